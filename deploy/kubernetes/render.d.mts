/** A Kubernetes resource as parsed from YAML. */
export interface KubernetesResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Strategic merge of `patch` into `base` (maps merge, null deletes, named list items merge by name). */
export function strategicMerge(base: unknown, patch: unknown): unknown;

/** Renders the kustomization in `dir` (resources, components, patches, namespace) into resources. */
export function render(dir: string): KubernetesResource[];

// Renders a kustomization the way `kubectl kustomize` does, for the subset these manifests use:
// `resources` (files and folders with a kustomization), `components`, `patches` (strategic merge,
// from a file or inline, optionally with a `target`), `namespace`. Files outside a kustomization's
// folder are refused, as kustomize's default load restrictions do. kubectl is not needed.
//   node deploy/kubernetes/render.mjs deploy/kubernetes > all.yaml
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const { parseAllDocuments, stringify } = YAML;

/** Kinds without a namespace (the ones that occur here and the usual cluster-scoped ones). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass']);

function readYaml(file) {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  const out = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`);
    const value = document.toJSON();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function inside(root, path) {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep));
}

function kustomizationFile(dir) {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  throw new Error(`${dir} has no kustomization.yaml`);
}

function id(resource) {
  return `${resource.kind}/${resource.metadata?.name}`;
}

/** Strategic merge of `patch` into `base`: maps merge, `null` deletes, lists of named items merge by name, other lists are replaced. */
export function strategicMerge(base, patch) {
  if (patch === null) return undefined;
  if (Array.isArray(patch)) {
    if (!Array.isArray(base) || !patch.every((item) => item && typeof item === 'object' && 'name' in item)) return structuredClone(patch);
    const out = base.map((item) => structuredClone(item));
    for (const item of patch) {
      const index = out.findIndex((existing) => existing && existing.name === item.name);
      if (index < 0) out.push(structuredClone(item));
      else out[index] = strategicMerge(out[index], item);
    }
    return out;
  }
  if (patch && typeof patch === 'object') {
    const out = base && typeof base === 'object' && !Array.isArray(base) ? { ...base } : {};
    for (const [key, value] of Object.entries(patch)) {
      const merged = strategicMerge(out[key], value);
      if (merged === undefined) delete out[key];
      else out[key] = merged;
    }
    return out;
  }
  return patch;
}

function applyPatches(resources, patches, dir) {
  for (const entry of patches ?? []) {
    let documents;
    if (entry.path !== undefined) {
      const file = resolve(dir, entry.path);
      if (!inside(dir, file)) throw new Error(`patch ${entry.path} is outside ${dir} (kustomize refuses it)`);
      documents = readYaml(file);
    } else {
      documents = parseAllDocuments(entry.patch).map((document) => document.toJSON());
    }
    for (const patch of documents) {
      const kind = entry.target?.kind ?? patch.kind;
      const name = entry.target?.name ?? patch.metadata?.name;
      const matches = resources.filter((resource) => resource.kind === kind && resource.metadata?.name === name);
      if (matches.length === 0) throw new Error(`patch for ${kind}/${name} in ${dir} matches no resource`);
      for (const match of matches) {
        const merged = strategicMerge(match, { ...patch, kind: undefined, apiVersion: undefined, metadata: undefined });
        for (const key of Object.keys(match)) delete match[key];
        Object.assign(match, merged, { kind: match.kind ?? kind });
        match.apiVersion ??= patch.apiVersion;
        match.metadata ??= { name };
      }
    }
  }
}

/** Renders the kustomization in `dir` into a list of resources. */
export function render(dir) {
  const root = resolve(dir);
  const file = kustomizationFile(root);
  const kustomization = readYaml(file)[0] ?? {};
  if (kustomization.kind === 'Component') throw new Error(`${root} is a Component: list it under \`components\` of a Kustomization`);
  const resources = [];
  for (const entry of kustomization.resources ?? []) {
    const path = resolve(root, entry);
    if (!inside(root, path) && !statSync(path).isDirectory()) throw new Error(`resource ${entry} is outside ${root} (kustomize refuses files outside the root)`);
    resources.push(...(statSync(path).isDirectory() ? render(path) : readYaml(path)));
  }
  for (const entry of kustomization.components ?? []) {
    const componentDir = resolve(root, entry);
    const component = readYaml(kustomizationFile(componentDir))[0] ?? {};
    if (component.kind !== 'Component') throw new Error(`${entry} is listed under components but is a ${component.kind ?? 'Kustomization'}`);
    for (const resource of component.resources ?? []) resources.push(...readYaml(resolve(componentDir, resource)));
    applyPatches(resources, component.patches, componentDir);
  }
  applyPatches(resources, kustomization.patches, root);
  if (kustomization.namespace) {
    for (const resource of resources) {
      if (CLUSTER_SCOPED.has(resource.kind)) continue;
      resource.metadata = { ...resource.metadata, namespace: kustomization.namespace };
    }
  }
  const seen = new Set();
  for (const resource of resources) {
    const key = `${id(resource)}@${resource.metadata?.namespace ?? ''}`;
    if (seen.has(key)) throw new Error(`${id(resource)} is defined twice`);
    seen.add(key);
  }
  return resources;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));
  process.stdout.write(render(dir).map((resource) => stringify(resource)).join('---\n'));
}

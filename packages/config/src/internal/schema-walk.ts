/**
 * Reads the shape of a zod schema: which keys an object has, what type a leaf is. Used to resolve
 * environment variable names against the schema, to coerce their values, and for "did you mean".
 */
import type { z } from 'zod';

type AnySchema = z.ZodType;

interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  element?: AnySchema;
  shape?: Record<string, AnySchema>;
  valueType?: AnySchema;
  entries?: Record<string, string>;
  options?: AnySchema[];
  values?: unknown[];
}

function defOf(schema: AnySchema): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips wrappers (default, optional, transform pipes, ...) down to the schema that checks the input. */
export function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) {
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      current = def.in;
    } else {
      return current;
    }
  }
}

export type LeafKind =
  | { kind: 'boolean' }
  | { kind: 'number'; integer: boolean }
  | { kind: 'string' }
  | { kind: 'enum'; values: string[] }
  | { kind: 'array'; element: LeafKind }
  | { kind: 'object' }
  | { kind: 'record' }
  | { kind: 'other' };

/** Keys of an object schema (after unwrapping), or undefined when it is not an object. */
export function objectKeys(schema: AnySchema): string[] | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

/** The schema of `key` inside an object schema. */
export function childSchema(schema: AnySchema, key: string): AnySchema | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === 'object' && def.shape) return Object.hasOwn(def.shape, key) ? def.shape[key] : undefined;
  if (def.type === 'record' && def.valueType) return def.valueType;
  if (def.type === 'array' && def.element && /^\d+$/.test(key)) return def.element;
  return undefined;
}

/** The schema at a key path, walking objects, records and arrays. */
export function schemaAt(schema: AnySchema, path: readonly (string | number)[]): AnySchema | undefined {
  let current: AnySchema | undefined = schema;
  for (const segment of path) {
    if (!current) return undefined;
    current = childSchema(current, String(segment));
  }
  return current;
}

export function leafKind(schema: AnySchema): LeafKind {
  const def = defOf(unwrap(schema));
  switch (def.type) {
    case 'boolean':
      return { kind: 'boolean' };
    case 'number': {
      // z.int() is a number schema whose def carries format `safeint` (or `int32`, ...).
      const format = (def as { format?: string }).format ?? '';
      return { kind: 'number', integer: /int/.test(format) };
    }
    case 'string':
      return { kind: 'string' };
    case 'enum':
      return { kind: 'enum', values: Object.values(def.entries ?? {}) };
    case 'array':
      return { kind: 'array', element: def.element ? leafKind(def.element) : { kind: 'other' } };
    case 'object':
      return { kind: 'object' };
    case 'record':
      return { kind: 'record' };
    default:
      return { kind: 'other' };
  }
}

/** Human description of what a leaf expects, for messages. */
export function describeKind(kind: LeafKind): string {
  switch (kind.kind) {
    case 'boolean':
      return 'a boolean (true/false, 1/0, yes/no, on/off)';
    case 'number':
      return kind.integer ? 'an integer' : 'a number';
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'array': {
      const element = kind.element;
      const items =
        element.kind === 'enum'
          ? `values from ${element.values.join(', ')}`
          : element.kind === 'string'
            ? 'strings'
            : element.kind === 'number'
              ? element.integer
                ? 'integers'
                : 'numbers'
              : 'JSON objects';
      return `a list (comma separated or JSON) of ${items}`;
    }
    case 'object':
    case 'record':
      return 'a JSON object';
    default:
      return 'a JSON value';
  }
}

// Validates an object against a CRD's OpenAPI v3 schema the way kube-apiserver does, with a real JSON-schema
// validator (ajv): nulls in non-nullable fields are pruned first, unknown fields are pruned and reported
// (the apiserver's fieldValidation=Warn; `kubectl apply` uses Strict and would reject them), then the
// value validations (types, enums, patterns, ranges, required, oneOf) run. Used by tests and by
// `cilium policy validate`-style tooling; the apiserver stays the authority.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { CustomResourceDefinition, JSONSchemaProps } from './crd-schemas.js';

export interface CrdValidationResult {
  /** Value-validation failures, each "path: message" (path like spec.ingress[0].toPorts[0].ports[0].port). */
  errors: string[];
  /** Fields the schema does not know (pruned by the apiserver), as paths. */
  unknownFields: string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** OpenAPI v3 (Kubernetes dialect) -> JSON schema for ajv. */
export function toJsonSchema(s: JSONSchemaProps): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s['x-kubernetes-int-or-string']) {
    out['anyOf'] = [{ type: 'integer' }, { type: 'string' }];
  }
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'format' || k === 'description' || k === 'nullable') continue;
    if (k === 'properties') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, JSONSchemaProps>).map(([p, ps]) => [p, toJsonSchema(ps)]));
    } else if (k === 'items') {
      out[k] = toJsonSchema(v as JSONSchemaProps);
    } else if (k === 'additionalProperties') {
      out[k] = typeof v === 'boolean' ? v : toJsonSchema(v as JSONSchemaProps);
    } else if (k === 'oneOf' || k === 'anyOf') {
      out[k] = (v as JSONSchemaProps[]).map(toJsonSchema);
    } else {
      out[k] = v;
    }
  }
  if (s.nullable && typeof s.type === 'string') out['type'] = [s.type, 'null'];
  return out;
}

/** Drops null-valued fields whose schema is not nullable and unknown fields (recording their paths). */
function prune(value: Json, s: JSONSchemaProps | undefined, path: string, unknown: string[]): Json {
  if (s === undefined || s['x-kubernetes-preserve-unknown-fields']) return value;
  if (Array.isArray(value)) {
    return value.map((v, i) => prune(v, s.items, `${path}[${i}]`, unknown));
  }
  if (value === null || typeof value !== 'object') return value;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    const childPath = path ? `${path}.${k}` : k;
    let child: JSONSchemaProps | undefined;
    if (s.properties && k in s.properties) child = s.properties[k];
    else if (typeof s.additionalProperties === 'object') child = s.additionalProperties;
    else if (s.properties || s.type === 'object') {
      if (path === '' && (k === 'metadata' || k === 'apiVersion' || k === 'kind')) child = undefined;
      else {
        unknown.push(childPath);
        continue;
      }
    }
    if (v === null && !(child?.nullable ?? false)) continue;
    out[k] = k === 'metadata' && path === '' ? v : prune(v, child, childPath, unknown);
  }
  return out;
}

function formatPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('')
    .replace(/^\./, '');
}

function formatError(e: ErrorObject): string {
  const at = formatPath(e.instancePath) || '<root>';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'enum':
      return `${at}: Unsupported value: ${JSON.stringify(undefined)} must be one of ${(p['allowedValues'] as unknown[]).map((x) => JSON.stringify(x)).join(', ')}`;
    case 'required':
      return `${at}.${String(p['missingProperty'])}: Required value`;
    case 'oneOf':
      return `${at}: must validate one and only one schema (oneOf)`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

/** Compiles a validator for one CRD version (default: the storage version). */
export class CrdValidator {
  readonly #schema: JSONSchemaProps;
  readonly #validate: ValidateFunction;

  constructor(crd: CustomResourceDefinition, version?: string) {
    const v = crd.spec.versions.find((x) => (version ? x.name === version : x.storage));
    if (!v) throw Object.assign(new Error(`CRD ${crd.metadata.name} has no version ${version ?? '(storage)'}`), { code: 'ECRDVERSION', hint: 'pick a served version' });
    this.#schema = v.schema.openAPIV3Schema;
    const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
    this.#validate = ajv.compile(toJsonSchema(this.#schema));
  }

  validate(obj: unknown): CrdValidationResult {
    const unknownFields: string[] = [];
    const pruned = prune(obj as Json, this.#schema, '', unknownFields);
    const ok = this.#validate(pruned);
    const errors = ok ? [] : (this.#validate.errors ?? []).map((e) => {
      if (e.keyword === 'enum') {
        const got = e.instancePath.split('/').slice(1).reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], pruned);
        return formatError(e).replace('undefined', JSON.stringify(got));
      }
      return formatError(e);
    });
    return { errors: [...new Set(errors)], unknownFields };
  }
}

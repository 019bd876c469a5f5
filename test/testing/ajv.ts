// The reference validator the arbitraries are checked against: ajv with ajv-formats (full mode), in the dialect a
// schema declares; a schema that declares none must satisfy both draft-07 and 2020-12, as MCP leaves it open.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import formatsModule from "ajv-formats";

// ajv-formats is CommonJS with `exports.default`: under Node's ESM interop the function is that property.
const addFormats = (formatsModule as unknown as { default: (ajv: Ajv | Ajv2020) => void }).default;

function make<T extends Ajv | Ajv2020>(ajv: T): T {
  addFormats(ajv);
  return ajv;
}

// strict: false, because real tool schemas carry keywords of their own (`nullable`, OpenAPI leftovers) that JSON
// Schema says to ignore; allErrors so a test can look for the one error an invalid call should cause.
const draft07 = make(new Ajv({ strict: false, allErrors: true, logger: false }));
const draft2020 = make(new Ajv2020({ strict: false, allErrors: true, logger: false }));

export interface SchemaCheck {
  /** Names of the dialects checked: `draft-07`, `2020-12`, or both. */
  readonly dialects: readonly string[];
  /** The errors of each dialect's validator, empty when the value is valid in all of them. */
  errors(value: unknown): ErrorObject[][];
}

export function schemaCheck(schema: unknown): SchemaCheck {
  const declared = typeof schema === "object" && schema !== null ? String((schema as { $schema?: unknown }).$schema ?? "") : "";
  const validators: [string, ValidateFunction][] = [];
  if (!declared.includes("draft-07")) validators.push(["2020-12", draft2020.compile(schema as object)]);
  if (!declared.includes("2020-12")) validators.push(["draft-07", draft07.compile(schema as object)]);
  return {
    dialects: validators.map(([name]) => name),
    errors: (value) => validators.map(([, validate]) => (validate(value) ? [] : [...(validate.errors ?? [])])),
  };
}

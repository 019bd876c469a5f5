// Every catalogue of `PQGnnnn` codes in one registry, and the table of docs/errors.md rendered from it. The CLI is the
// one layer that sees all the others, so the registry lives here; test/errors/codes.test.ts checks it and the doc.
import { CHECK, DIAGNOSTICS } from "../compiler/diagnostics.js";
import { REQUEST_ERRORS } from "../compiler/request.js";
import { SYNTAX_CODES } from "../grammar/syntax-codes.js";
import { AUDIT_ERRORS } from "../runtime/audit/log.js";
import { CRYPTO_ERRORS } from "../runtime/crypto/errors.js";
import { ENFORCE_ERRORS } from "../runtime/enforce/errors.js";
import { RESULT_ERRORS } from "../runtime/enforce/results.js";
import type { ErrorCatalogue, ErrorCodeEntry } from "../runtime/errors.js";
import { LITERAL_ERRORS } from "../runtime/guard/literal-errors.js";
import { CLIENT_CERTIFICATE_ERRORS } from "../runtime/identity/certificate-files.js";
import { KEYRING_ERRORS } from "../runtime/identity/keyring.js";
import { TRUST_LIST_ERRORS } from "../runtime/identity/trust-list.js";
import { REVOCATION_LIST_ERRORS } from "../runtime/identity/revocation-list.js";
import { CRYPTO_CONFIG_ERRORS } from "../runtime/crypto/config-file.js";
import { INVENTORY_ERRORS } from "../runtime/inventory/errors.js";
import { MANIFEST_ERRORS } from "../runtime/manifest/errors.js";
import { PROXY_ERRORS } from "../runtime/proxy/errors.js";
import { SESSION_ERRORS } from "../runtime/session/errors.js";
import { STATE_ERRORS } from "../runtime/state/store.js";
import { GUARD_ASSERTION_ERRORS } from "../testing/assertion-codes.js";
import { ARBITRARY_ERRORS } from "../testing/errors.js";
import { TEST_RUN_ERRORS } from "../testing/runner/results.js";
import { DIFF_ERRORS } from "./commands/diff.js";
import { CLI_ERRORS } from "./commands/io.js";

/** The policy diagnostics (grammar/syntax-codes.ts, compiler/diagnostics.ts) seen as catalogues: one template each. */
const SYNTAX_DIAGNOSTICS: ErrorCatalogue = {
  area: "policy syntax",
  errorClass: "diagnostic (error)",
  ranges: [[1001, 1999]],
  entries: Object.fromEntries(Object.entries(SYNTAX_CODES).map(([name, entry]) => [name, { code: entry.code, meaning: DIAGNOSTICS[entry.code]?.title ?? entry.template }])),
};

const CHECK_DIAGNOSTICS: ErrorCatalogue = {
  area: "policy checks",
  errorClass: "diagnostic",
  ranges: [[2001, 4999]],
  entries: Object.fromEntries(Object.entries(CHECK).map(([name, entry]) => [name, { code: entry.code, meaning: `${entry.title} (${entry.severity})` }])),
};

/** Every catalogue, in the order of their codes' ranges. A new catalogue is added here, or its codes are not documented. */
export const ERROR_CATALOGUES: readonly ErrorCatalogue[] = [
  CLI_ERRORS.catalogue,
  SYNTAX_DIAGNOSTICS,
  CHECK_DIAGNOSTICS,
  CRYPTO_ERRORS.catalogue,
  CLIENT_CERTIFICATE_ERRORS.catalogue,
  KEYRING_ERRORS.catalogue,
  TRUST_LIST_ERRORS.catalogue,
  REVOCATION_LIST_ERRORS.catalogue,
  CRYPTO_CONFIG_ERRORS.catalogue,
  INVENTORY_ERRORS.catalogue,
  SESSION_ERRORS.catalogue,
  MANIFEST_ERRORS.catalogue,
  AUDIT_ERRORS.catalogue,
  STATE_ERRORS.catalogue,
  ENFORCE_ERRORS.catalogue,
  LITERAL_ERRORS.catalogue,
  RESULT_ERRORS.catalogue,
  PROXY_ERRORS.catalogue,
  REQUEST_ERRORS.catalogue,
  GUARD_ASSERTION_ERRORS.catalogue,
  TEST_RUN_ERRORS.catalogue,
  ARBITRARY_ERRORS.catalogue,
  DIFF_ERRORS.catalogue,
];

/** One row of the table: a code, the catalogue it belongs to, its name there and its meaning. */
export interface ErrorCodeRow extends ErrorCodeEntry {
  readonly name: string;
  readonly catalogue: ErrorCatalogue;
}

/** Every entry of every catalogue, sorted by code (a code in two catalogues appears twice: the test refuses that). */
export function errorCodeRows(catalogues: readonly ErrorCatalogue[] = ERROR_CATALOGUES): ErrorCodeRow[] {
  const rows = catalogues.flatMap((catalogue) => Object.entries(catalogue.entries).map(([name, entry]) => ({ ...entry, name, catalogue })));
  return rows.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** docs/errors.md, whole: `npm run errors:doc` writes it, and the test compares the file with this. */
export function renderErrorDoc(catalogues: readonly ErrorCatalogue[] = ERROR_CATALOGUES): string {
  const rows = errorCodeRows(catalogues).map((row) => `| ${row.code} | ${cell(row.catalogue.area)} | ${cell(row.catalogue.errorClass)} | ${cell(row.meaning)} |`);
  return [
    "# Error codes",
    "",
    "<!-- Generated from the catalogues registered in bin/error-codes.ts by `npm run errors:doc`; do not edit by hand. -->",
    "",
    "Every error pqguard reports on purpose carries a stable code `PQGnnnn` and one sentence. Errors thrown by the",
    "library extend `PqguardError` (exported by `pqguard`), so `error instanceof PqguardError` and `error.code` identify",
    "any of them; the CLI prints `error PQGnnnn: sentence`; policy diagnostics carry the code beside their source span.",
    "A code means one thing and keeps that meaning once published; a retired code is not reused (CHANGELOG.md says when",
    "a meaning moved to a new code). Refused tool calls reach the client as a JSON-RPC error whose `data.code` is one of",
    "the PQG73xx codes (docs/enforcement.md).",
    "",
    "Ranges: PQG00xx the CLI, PQG1xxx policy syntax, PQG2xxx–PQG4xxx policy checks (docs/language.md), PQG50xx–PQG52xx",
    "crypto, keys and certificate files, PQG60xx sessions, PQG70xx–PQG73xx manifests, audit, state and enforcement,",
    "PQG76xx path, domain and address literals, PQG80xx the proxy, PQG82xx the demo, PQG90xx compile and eval,",
    "PQG95xx pqguard/testing and `pqguard diff`.",
    "",
    "| Code | Area | Class | Meaning |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

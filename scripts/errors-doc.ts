// Writes docs/errors.md, the table of every error code, from the catalogues registered in bin/error-codes.ts.
import { writeFileSync } from "node:fs";
import { renderErrorDoc } from "../bin/error-codes.js";

writeFileSync(new URL("../docs/errors.md", import.meta.url), renderErrorDoc());

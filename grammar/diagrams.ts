// `npm run diagrams`: writes docs/grammar.html, railroad diagrams of every grammar rule, from the parser itself.
import { mkdir, writeFile } from "node:fs/promises";
import { createSyntaxDiagramsCode } from "chevrotain";
import { policyParser } from "./parser.js";

const target = new URL("../docs/grammar.html", import.meta.url);
const html = createSyntaxDiagramsCode(policyParser.getSerializedGastProductions());
await mkdir(new URL("./", target), { recursive: true });
await writeFile(target, html, "utf8");
process.stdout.write(`wrote ${target.pathname}\n`);

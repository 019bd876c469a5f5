#!/usr/bin/env node
// The `pqguard` command: the entry npm links as the package's bin; runs the CLI dispatcher on the process's arguments.
import process from "node:process";
import { runCli } from "./cli.js";

await runCli(process.argv.slice(2));

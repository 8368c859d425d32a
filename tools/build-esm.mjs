#!/usr/bin/env node
/*
 * Generate pushapp/static/pushapp/pushapp.mjs, the ES module, from pushapp.js, the one source: the part of
 * pushapp.js between its "pushapp.mjs begins" and "pushapp.mjs ends" lines, unindented, plus the exports.
 *
 *   node tools/build-esm.mjs           write pushapp.mjs
 *   node tools/build-esm.mjs --check   exit 1 when pushapp.mjs is not what this would write
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "pushapp", "static", "pushapp");
const SOURCE = join(DIR, "pushapp.js");
const TARGET = join(DIR, "pushapp.mjs");
const BEGIN = "  // ---- pushapp.mjs begins ----\n";
const END = "  // ---- pushapp.mjs ends ----\n";

export function generate(source) {
  const start = source.indexOf(BEGIN);
  const end = source.indexOf(END);
  if (start < 0 || end < start) throw new Error("pushapp.js lacks the pushapp.mjs marker lines");
  const body = source
    .slice(start + BEGIN.length, end)
    .split("\n")
    .map((line) => line.replace(/^ {2}/, ""))
    .join("\n");
  return (
    "/*\n" +
    " * pushapp.mjs: the browser client of django-pushapp as an ES module (docs/javascript.md).\n" +
    " * GENERATED from pushapp.js by tools/build-esm.mjs: do not edit, edit pushapp.js and run\n" +
    " * `node tools/build-esm.mjs`. Types: pushapp.d.ts.\n" +
    " */\n" +
    body.replace(/^\n+/, "").replace(/\n+$/, "\n") +
    "\nexport { PushappClient };\nexport default PushappClient;\n"
  );
}

const wanted = generate(readFileSync(SOURCE, "utf8"));
if (process.argv.includes("--check")) {
  let current = null;
  try {
    current = readFileSync(TARGET, "utf8");
  } catch (error) {
    // missing: out of date
  }
  if (current !== wanted) {
    console.error("pushapp.mjs is out of date: run `node tools/build-esm.mjs`");
    process.exit(1);
  }
} else {
  writeFileSync(TARGET, wanted);
}

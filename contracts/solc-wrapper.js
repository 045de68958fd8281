#!/usr/bin/env node
// A `solc` command over the pinned solcjs, so Slither (crytic-compile) analyses exactly
// what build.js compiles, offline, without a native solc or solc-select downloads.
// crytic-compile calls `solc --version`, then `solc --standard-json --allow-paths DIR`
// with the input on stdin (Slither's `--solc-standard-json` on a directory target).
// The compiler settings (optimizer, viaIR, evmVersion) and the import resolution
// (@openzeppelin/ from node_modules) are build.js's, whatever the caller asked for.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");
const { findImports, profileOf, settingsFor } = require("./build.js");

function fail(message) {
  process.stderr.write(`solc-wrapper: ${message}\n`);
  process.exit(2);
}

function standardJson(text) {
  const input = JSON.parse(text);
  const sources = {};
  const profiles = new Set();
  for (const [name, source] of Object.entries(input.sources || {})) {
    // crytic-compile names files by path (relative to its cwd) in `urls`, without content.
    const file = path.resolve(source.content === undefined ? source.urls[0] : name);
    sources[name] = source.content === undefined ? { content: fs.readFileSync(file, "utf8") } : source;
    profiles.add(profileOf(file));
  }
  if (profiles.size > 1) fail("production and test contracts are compiled with different settings: analyse one kind at a time");
  const [profile] = profiles;
  const settings = { ...input.settings, ...settingsFor(profile) };
  const request = { language: "Solidity", sources, settings };
  return solc.compile(JSON.stringify(request), { import: findImports });
}

function main() {
  const args = process.argv.slice(2);
  if (args.includes("--version")) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!args.includes("--standard-json")) {
    fail(`only --version and --standard-json are supported (got: ${args.join(" ")}); run Slither on a directory with --solc-standard-json`);
  }
  process.stdout.write(standardJson(fs.readFileSync(0, "utf8")));
}

main();

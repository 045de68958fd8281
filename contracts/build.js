#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with the pinned solcjs into deterministic
// artifacts in contracts/build/<Name>.json (abi, bytecode, deployedBytecode).
// `node build.js --check` recompiles in memory and fails, naming the artifact,
// when the committed files differ: CI uses it so artifacts never drift.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const OUT = path.join(ROOT, "build");
const NODE_MODULES = path.join(ROOT, "node_modules");

// Production contracts are tuned for cheap calls (orders are placed and paid
// often; deployment happens once). Test-only contracts (OpenZeppelin Governor
// and friends) are large, so they use a low `runs` to stay under EIP-170.
const PROFILES = [
  { dir: SRC, recursive: false, runs: 1000000, viaIR: true },
  { dir: path.join(SRC, "test"), recursive: true, runs: 200 },
];

function listSources(dir, recursive) {
  if (!fs.existsSync(dir)) return [];
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && recursive) found.push(...listSources(full, true));
    else if (entry.isFile() && entry.name.endsWith(".sol")) found.push(full);
  }
  return found;
}

function findImports(importPath) {
  const candidates = [path.join(NODE_MODULES, importPath), path.join(SRC, importPath)];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

// The compiler settings of a profile; solc-wrapper.js (Slither's `solc`) uses the same.
function settingsFor(profile) {
  return {
    optimizer: { enabled: true, runs: profile.runs },
    viaIR: Boolean(profile.viaIR),
    evmVersion: "prague",
    metadata: { bytecodeHash: "none", appendCBOR: false },
  };
}

// The profile a source file belongs to (production unless it lives under src/test/).
function profileOf(file) {
  const relative = path.relative(SRC, path.resolve(file));
  return PROFILES.find((p) => p.recursive && relative.startsWith(path.relative(SRC, p.dir) + path.sep)) || PROFILES[0];
}

function compile(profile) {
  const files = listSources(profile.dir, profile.recursive);
  if (files.length === 0) return {};
  const sources = {};
  for (const file of files) {
    sources[path.relative(SRC, file).split(path.sep).join("/")] = { content: fs.readFileSync(file, "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      ...settingsFor(profile),
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  // Warnings about our own sources are shown; the pinned OpenZeppelin sources are not ours to fix.
  for (const message of output.errors || []) {
    const file = (message.sourceLocation && message.sourceLocation.file) || "";
    if (message.severity === "error" || !file.startsWith("@openzeppelin/")) {
      process.stderr.write(message.formattedMessage + "\n");
    }
  }
  if (errors.length > 0) throw new Error(`compilation failed with ${errors.length} error(s)`);
  const artifacts = {};
  for (const source of Object.keys(sources)) {
    for (const [name, contract] of Object.entries(output.contracts[source] || {})) {
      if (artifacts[name]) throw new Error(`two contracts are named ${name}`);
      artifacts[name] = {
        abi: contract.abi,
        bytecode: "0x" + contract.evm.bytecode.object,
        deployedBytecode: "0x" + contract.evm.deployedBytecode.object,
      };
    }
  }
  return artifacts;
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const sorted = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]);
    return sorted;
  }
  return value;
}

function render(artifact) {
  return JSON.stringify(sortKeys(artifact), null, 2) + "\n";
}

function main() {
  const check = process.argv.includes("--check");
  const artifacts = {};
  for (const profile of PROFILES) {
    for (const [name, artifact] of Object.entries(compile(profile))) {
      // Only contracts with code (no interfaces, no abstract contracts) are useful artifacts.
      if (artifact.bytecode === "0x") continue;
      if (artifacts[name]) throw new Error(`two contracts are named ${name}`);
      artifacts[name] = render(artifact);
    }
  }
  const wanted = new Set(Object.keys(artifacts).map((name) => `${name}.json`));
  const existing = fs.existsSync(OUT) ? fs.readdirSync(OUT).filter((f) => f.endsWith(".json")) : [];
  if (check) {
    const problems = [];
    for (const [name, text] of Object.entries(artifacts)) {
      const file = path.join(OUT, `${name}.json`);
      if (!fs.existsSync(file)) problems.push(`${name}.json is missing`);
      else if (fs.readFileSync(file, "utf8") !== text) problems.push(`${name}.json differs from the sources`);
    }
    for (const file of existing) if (!wanted.has(file)) problems.push(`${file} has no source`);
    if (problems.length > 0) {
      for (const problem of problems) process.stderr.write(`build/${problem}\n`);
      process.stderr.write("run `node build.js` in contracts/ and commit contracts/build/\n");
      process.exit(1);
    }
    process.stdout.write(`${Object.keys(artifacts).length} artifacts match their sources\n`);
    return;
  }
  fs.mkdirSync(OUT, { recursive: true });
  for (const file of existing) if (!wanted.has(file)) fs.unlinkSync(path.join(OUT, file));
  for (const [name, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(OUT, `${name}.json`), text);
  process.stdout.write(`wrote ${Object.keys(artifacts).length} artifacts to build/\n`);
}

if (require.main === module) main();

module.exports = { SRC, findImports, profileOf, settingsFor };

// Assembles each kernel's .wat into its *-wasm.ts, so the library embeds the bytes and needs neither
// file I/O nor wabt at run time. `npm run build` runs it first (wabt is a pinned devDependency); the
// generated files stay committed, and `--check` (run by build-wasm-kernels.spec.ts) fails when any of
// them differs from a fresh assembly, e.g. after a .wat was edited without rebuilding.
//
// Besides the bytes, each generated file carries the kernel's memory layout, parsed from the .wat's
// structured comment lines, so the TypeScript side lays out memory from the one description:
//   ;; @layout <name>                                   starts a layout (one per way the TS side lays out memory)
//   ;; @region <name> align=<bytes> slack=<bytes> <in|out|inout|scratch>   its regions, in address order
//   ;; @const <NAME> <integer>                           a constant the kernel code is written for
//
// Usage: node build-wasm-kernels.mjs [--check] [--src <the library's src folder>]
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const KERNELS = [
  { wat: 'gaussian/comoment-kernel.wat', prefix: 'COMOMENT_KERNEL' },
  { wat: 'gaussian/gram-centre.wat', prefix: 'GRAM_CENTRE' },
  { wat: 'gaussian/finalize-kernel.wat', prefix: 'FINALIZE_KERNEL' },
  { wat: 'mahalanobis/mahalanobis-kernel.wat', prefix: 'MAHALANOBIS_KERNEL' },
  { wat: 'image/png-unfilter.wat', prefix: 'PNG_UNFILTER' },
  { wat: 'image/resize-pil.wat', prefix: 'RESIZE_PIL' },
];
const ACCESS = ['in', 'out', 'inout', 'scratch'];

const args = process.argv.slice(2);
const check = args.includes('--check');
const srcAt = args.indexOf('--src');
const src = srcAt >= 0 ? args[srcAt + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');
const unknown = args.filter((a, i) => a !== '--check' && (srcAt < 0 || (i !== srcAt && i !== srcAt + 1)));
if ((srcAt >= 0 && !src) || unknown.length > 0) {
  console.error(`build-wasm-kernels.mjs: unexpected arguments ${JSON.stringify(args)}; usage: [--check] [--src <the library's src folder>]`);
  process.exit(2);
}

// wabt is resolved from this script's own node_modules chain (the repository's devDependency).
const require = createRequire(import.meta.url);
const wabt = await require('wabt')();

const stale = [];
for (const { wat, prefix } of KERNELS) {
  const text = readFileSync(join(src, wat), 'utf8');
  const module = wabt.parseWat(basename(wat), text, { simd: true });
  module.validate();
  const { buffer } = module.toBinary({});
  module.destroy();
  const generated = generatedSource(basename(wat), prefix, Buffer.from(buffer), parseLayout(wat, text));
  const target = join(src, wat.replace(/\.wat$/, '-wasm.ts'));
  const current = readFileSync(target, 'utf8');
  if (current === generated) continue;
  if (check) {
    stale.push(wat.replace(/\.wat$/, '-wasm.ts'));
  } else {
    writeFileSync(target, generated);
    console.log(`${wat.replace(/\.wat$/, '-wasm.ts')}: ${buffer.length} bytes of wasm`);
  }
}
if (stale.length > 0) {
  console.error(`Stale wasm kernels (they differ from a fresh assembly of their .wat; run npm run build:wasm): ${stale.join(', ')}`);
  process.exit(1);
}

/** The @layout, @region and @const lines of a .wat; throws naming the file and line of a malformed one. */
function parseLayout(wat, text) {
  const layouts = {};
  const constants = {};
  let current = null;
  text.split('\n').forEach((line, i) => {
    const directive = /^\s*;;\s*@(\w+)\b(.*)$/.exec(line);
    if (!directive) return;
    const [, kind, rest] = directive;
    const fail = (why) => {
      throw new Error(`${wat}:${i + 1}: ${why}: ${line.trim()}`);
    };
    if (kind === 'layout') {
      const name = /^\s+(\w+)\s*$/.exec(rest)?.[1] ?? fail('expected "@layout <name>"');
      if (layouts[name]) fail(`layout ${name} declared twice`);
      current = layouts[name] = [];
    } else if (kind === 'region') {
      const m = /^\s+(\w+)\s+align=(\d+)\s+slack=(\d+)\s+(\w+)\b/.exec(rest) ?? fail('expected "@region <name> align=<n> slack=<n> <access>"');
      const [, name, align, slack, access] = m;
      if (!current) fail('@region before any @layout');
      if (!ACCESS.includes(access)) fail(`access must be one of ${ACCESS.join(', ')}`);
      if (current.some((r) => r.name === name)) fail(`region ${name} declared twice`);
      current.push({ name, align: Number(align), slack: Number(slack), access });
    } else if (kind === 'const') {
      const m = /^\s+([A-Z][A-Z0-9_]*)\s+(\d+)\b/.exec(rest) ?? fail('expected "@const <NAME> <integer>"');
      if (m[1] in constants) fail(`constant ${m[1]} declared twice`);
      constants[m[1]] = Number(m[2]);
    } else {
      fail(`unknown directive @${kind}`);
    }
  });
  if (Object.keys(layouts).length === 0) throw new Error(`${wat}: no @layout block`);
  return { layouts, constants };
}

function generatedSource(watName, prefix, bytes, { layouts, constants }) {
  const base64 = bytes
    .toString('base64')
    .match(/.{1,100}/g)
    .map((l) => `  '${l}'`)
    .join(' +\n');
  const region = (r) => `{ name: '${r.name}', align: ${r.align}, slack: ${r.slack}, access: '${r.access}' }`;
  const layoutLines = Object.entries(layouts)
    .map(([name, regions]) => `    ${name}: [\n${regions.map((r) => `      ${region(r)},\n`).join('')}    ],\n`)
    .join('');
  const constantLines = Object.entries(constants)
    .map(([name, value]) => `    ${name}: ${value},\n`)
    .join('');
  return (
    `// Generated by build-wasm-kernels.mjs from ${watName}; do not edit.\n` +
    `export const ${prefix}_WASM_BASE64 =\n${base64};\n\n` +
    `/** The memory layouts (regions in address order) and constants declared in ${watName}. */\n` +
    `export const ${prefix}_LAYOUT = {\n` +
    `  layouts: {\n${layoutLines}  },\n` +
    `  constants: {${constantLines ? `\n${constantLines}  ` : ''}},\n` +
    `} as const;\n`
  );
}

// Builds the collector bundle that the Python package ships and serves at /collector.js,
// with the licence texts of what it bundles beside it. Deterministic: the same lockfile
// gives the same bytes, so a rebuild that changes the shipped file is a visible diff.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.argv[2] || '../../riskengine/web/static';
const bundled = ['@fingerprintjs/fingerprintjs', '@fingerprintjs/botd'].map((name) => {
  const pkg = JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8'));
  return { name, version: pkg.version, license: pkg.license, text: readFileSync(`node_modules/${name}/LICENSE`, 'utf8') };
});
const banner = '/*! riskengine collector | bundles ' +
  bundled.map((b) => `${b.name} ${b.version} (${b.license})`).join(', ') +
  ' | licence texts: collector.LICENSES.txt */';

await build({
  entryPoints: ['src/collector.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2018',
  legalComments: 'none',
  banner: { js: banner },
  outfile: `${out}/collector.js`,
});
writeFileSync(`${out}/collector.LICENSES.txt`,
  bundled.map((b) => `${b.name} ${b.version} (${b.license})\n\n${b.text.trim()}\n`).join('\n----\n\n'));

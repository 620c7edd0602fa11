// Builds the console's assets that the Python package ships under riskengine/web/static/console/:
// one bundle (htmx, Chart.js, Cytoscape and src/console.js), the stylesheet, and the licence
// texts of what it bundles. Deterministic: the same lockfile gives the same bytes, so .ci/run
// can check that the committed files are a fresh build.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const out = process.argv[2] || '../../riskengine/web/static/console';
mkdirSync(out, { recursive: true });
const bundled = [['htmx.org', 'LICENSE'], ['chart.js', 'LICENSE.md'], ['@kurkle/color', 'LICENSE.md'],
  ['cytoscape', 'LICENSE']].map(([name, file]) => {
  const pkg = JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8'));
  return { name, version: pkg.version, license: pkg.license, text: readFileSync(`node_modules/${name}/${file}`, 'utf8') };
});
const banner = '/*! riskengine console | bundles ' +
  bundled.map((b) => `${b.name} ${b.version} (${b.license})`).join(', ') +
  ' | licence texts: console.LICENSES.txt */';

await build({
  entryPoints: ['src/console.js'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2019',
  legalComments: 'none',
  banner: { js: banner },
  outfile: `${out}/console.js`,
});
copyFileSync('src/console.css', `${out}/console.css`);
writeFileSync(`${out}/console.LICENSES.txt`,
  bundled.map((b) => `${b.name} ${b.version} (${b.license})\n\n${b.text.trim()}\n`).join('\n----\n\n'));

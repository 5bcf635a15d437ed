// Builds the saved copy of the auditor's page: services/web/audit.html with its stylesheet and
// every ES module inlined, as one file that works when opened from file://
// (services/web/saved/trial-ledger-audit.html, committed; the server also serves it at
// /audit/saved.html). The build is deterministic (the same sources give the same bytes), so
// the SHA-256 in the README can be checked by rebuilding:
//
//   node services/web/build-saved.mjs          # writes the file and the README's SHA-256 line
//   node services/web/build-saved.mjs --check  # exit 1 if the committed file is not up to date
//
// Inlining: each module becomes a function whose result is its exports, in dependency order;
// `import ... from './x.js'` becomes a lookup of x's exports. The sources use only the import
// and export forms handled below; anything else stops the build.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const OUTPUT = path.join(here, 'saved', 'trial-ledger-audit.html');

const IMPORT_ALL = /^import \* as (\w+) from ['"](\.[^'"]+)['"];?$/gm;
const IMPORT_SOME = /^import\s*\{([^}]*)\}\s*from\s*['"](\.[^'"]+)['"];?$/gm;
const EXPORT_DECL = /^export (async function|function|class|const|let) (\w+)/gm;
const EXPORT_LIST = /^export \{([^}]*)\};?$/gm;

/** One module's code rewritten for inlining, and the modules it imports. */
function rewrite(file) {
  let code = readFileSync(path.join(here, file), 'utf8');
  const deps = [];
  const dep = (spec) => {
    const p = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    deps.push(p);
    return JSON.stringify(p);
  };
  code = code.replace(IMPORT_ALL, (_, name, spec) => `const ${name} = __modules[${dep(spec)}];`);
  code = code.replace(IMPORT_SOME, (_, names, spec) => {
    const list = names.split(',').map((n) => n.trim()).filter(Boolean)
      .map((n) => n.replace(/^(\w+) as (\w+)$/, '$1: $2'));
    return `const { ${list.join(', ')} } = __modules[${dep(spec)}];`;
  });
  const exported = [];
  code = code.replace(EXPORT_DECL, (_, kind, name) => {
    exported.push(name);
    return `${kind} ${name}`;
  });
  code = code.replace(EXPORT_LIST, (_, names) => {
    for (const n of names.split(',').map((x) => x.trim()).filter(Boolean)) {
      const m = /^(\w+)(?: as (\w+))?$/.exec(n);
      exported.push(m[2] ? `${m[2]}: ${m[1]}` : m[1]);
    }
    return '';
  });
  // (A bare `import ... from '@noble/...'` at a line's start is inside a doc comment there.)
  if (/^export\b/m.test(code) || /^import\b.*['"]\./m.test(code)) {
    throw new Error(`${file}: an import or export form the inliner does not handle`);
  }
  return { code, deps, exported };
}

/** The modules reachable from `entry`, dependencies first. */
function ordered(entry) {
  const out = [];
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const m = rewrite(file);
    for (const d of m.deps) visit(d);
    out.push({ file, ...m });
  };
  visit(entry);
  return out;
}

/** The saved copy's text. */
export function buildSaved() {
  const modules = ordered('audit.js').map(({ file, code, exported }) =>
    `// ---- ${file}\n__modules[${JSON.stringify(file)}] = (() => {\n${code}\nreturn { ${exported.join(', ')} };\n})();\n`);
  const script = `const __modules = {};\n${modules.join('')}`;
  const css = readFileSync(path.join(here, 'audit.css'), 'utf8');
  let html = readFileSync(path.join(here, 'audit.html'), 'utf8');
  const swap = (from, to) => {
    if (!html.includes(from)) throw new Error(`audit.html has no ${from}`);
    html = html.replace(from, () => to);
  };
  swap('<!-- saved-copy-meta -->', '<meta name="tl-saved-copy" content="services/web/build-saved.mjs">');
  swap('<link rel="stylesheet" href="audit.css">', `<style>\n${css}</style>`);
  const icon = readFileSync(path.join(here, 'favicon.svg'), 'utf8');
  swap('<link rel="icon" href="favicon.svg" type="image/svg+xml">',
    `<link rel="icon" href="data:image/svg+xml,${encodeURIComponent(icon.trim())}" type="image/svg+xml">`);
  swap('<script type="module" src="audit.js"></script>', `<script type="module">\n${script}</script>`);
  if (/<\/script/i.test(script) || /<!--/.test(script)) throw new Error('a source contains </script or <!--');
  return html;
}

export const sha256 = (text) => createHash('sha256').update(text).digest('hex');

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const html = buildSaved();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(OUTPUT, 'utf8');
    if (committed !== html) {
      console.error(`${OUTPUT} is not up to date: run node services/web/build-saved.mjs`);
      process.exit(1);
    }
  } else {
    mkdirSync(path.dirname(OUTPUT), { recursive: true });
    writeFileSync(OUTPUT, html);
    // The README's line under "For the auditor" gives the file's SHA-256.
    const readme = path.join(here, '..', '..', 'README.md');
    const line = /^# (?:[0-9a-f]{64}|SAVED_COPY_SHA256) {2}services\/web\/saved\/trial-ledger-audit\.html$/m;
    const text = readFileSync(readme, 'utf8');
    if (!line.test(text)) throw new Error('README.md has no line for the saved copy\'s SHA-256');
    writeFileSync(readme, text.replace(line, `# ${sha256(html)}  services/web/saved/trial-ledger-audit.html`));
  }
  console.log(`${sha256(html)}  services/web/saved/trial-ledger-audit.html`);
}

// House rules tsc cannot check: no console.* and no process.env outside src/config (STYLE.md).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const problems = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith('.ts')) check(path);
  }
}
function check(path) {
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (/\bconsole\.(log|info|warn|error|debug)\(/.test(line)) problems.push(`${path}:${i + 1}: console.* in src/ (use the pino logger)`);
      if (/process\.env\b/.test(line) && !path.startsWith(join('src', 'config')) && !path.endsWith(join('src', 'main.ts')) && !path.endsWith(join('src', 'dev.ts'))) {
        problems.push(`${path}:${i + 1}: process.env outside src/config (pass Config down)`);
      }
    });
}
walk('src');
if (problems.length) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write('lint: ok\n');

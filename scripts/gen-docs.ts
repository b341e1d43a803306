/**
 * Regenerates the README's configuration and metrics tables from the one schema and the one metrics declaration.
 *   node scripts/gen-docs.ts          rewrite README.md
 *   node scripts/gen-docs.ts --check  exit 1 if README.md is out of date (the test suite checks the same)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rawDefaults, schemaTable } from '../src/config/index.ts';
import { createMetrics, metricsTable } from '../src/metrics/index.ts';
import { PROJECT_ROOT } from '../src/util/paths.ts';

export async function generatedSections(): Promise<Record<string, string>> {
  return {
    config: schemaTable(await rawDefaults()),
    metrics: await metricsTable(createMetrics({ defaults: false })),
  };
}

/** README text with every `<!-- NAME:begin -->...<!-- NAME:end -->` section replaced by its generated content. */
export function fill(readme: string, sections: Record<string, string>): string {
  let text = readme;
  for (const [name, body] of Object.entries(sections)) {
    const re = new RegExp(`(<!-- ${name}:begin[^>]*-->\\n)(?:[\\s\\S]*?\\n)?(<!-- ${name}:end -->)`);
    if (!re.test(text)) throw new Error(`README.md has no <!-- ${name}:begin --> ... <!-- ${name}:end --> section`);
    text = text.replace(re, (_m, a: string, b: string) => a + body + '\n' + b);
  }
  return text;
}

if (import.meta.main) {
  const path = join(PROJECT_ROOT, 'README.md');
  const readme = await readFile(path, 'utf8');
  const next = fill(readme, await generatedSections());
  if (process.argv.includes('--check')) {
    if (next !== readme) {
      process.stderr.write('README.md is out of date: run `node scripts/gen-docs.ts`\n');
      process.exit(1);
    }
  } else if (next !== readme) {
    await writeFile(path, next);
    process.stdout.write('README.md updated\n');
  } else process.stdout.write('README.md already up to date\n');
}

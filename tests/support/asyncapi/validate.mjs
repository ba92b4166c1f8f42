// Validate an AsyncAPI document with the official parser (@asyncapi/parser): JSON Schema of the spec
// version plus its rules. Prints one JSON line per diagnostic; exit 0 when the document parsed.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const text = readFileSync(process.argv[2] ?? 0, 'utf8');
const { document, diagnostics } = await new Parser().parse(text);
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('.') }));
}
process.exit(document ? 0 : 1);

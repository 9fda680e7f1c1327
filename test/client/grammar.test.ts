import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const GRAMMAR = path.join(ROOT, 'syntaxes', 'mmcls-config.injection.tmLanguage.json');
// VS Code's own TextMate engine and Python grammar, from the end-to-end suite's code-server
// (e2e/setup.sh); the tokenizer tests skip without it.
const VS = path.join(ROOT, 'e2e', 'node_modules', 'code-server', 'lib', 'vscode');

type Tok = { startIndex: number; endIndex: number; scopes: string[] };
// The few parts of vscode-textmate / vscode-oniguruma used here (loaded from code-server's copy).
interface Grammar { tokenizeLine(line: string, state: unknown): { tokens: Tok[] } }
interface TextMate {
  INITIAL: unknown;
  parseRawGrammar(text: string, file: string): unknown;
  Registry: new (o: { onigLib: Promise<unknown>; loadGrammar(scope: string): Promise<unknown>; getInjections(scope: string): string[] | undefined }) => { loadGrammar(scope: string): Promise<Grammar | null> };
}
interface Oniguruma {
  loadWASM(data: ArrayBuffer): Promise<void>;
  OnigScanner: new (p: string[]) => unknown;
  OnigString: new (s: string) => unknown;
}

describe('syntaxes: the config grammar injection', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { contributes: { grammars: { scopeName: string; path: string; injectTo: string[] }[] } };

  it('is contributed as an injection into source.python, and its patterns are valid', () => {
    const g = manifest.contributes.grammars.find((x) => x.scopeName === 'mmcls.config.injection');
    assert.ok(g);
    assert.deepEqual(g.injectTo, ['source.python']);
    assert.equal(path.resolve(ROOT, g.path), GRAMMAR);
    const json = JSON.parse(fs.readFileSync(GRAMMAR, 'utf8')) as { repository: Record<string, { match: string }>; injectionSelector: string };
    assert.equal(json.injectionSelector, 'L:source.python -comment');
    for (const [k, r] of Object.entries(json.repository)) assert.doesNotThrow(() => new RegExp(r.match), k);
  });

  describe('tokenized by VS Code\'s TextMate engine', function () {
    let lines: (line: string) => [string, string][];
    before(async function () {
      if (!fs.existsSync(path.join(VS, 'node_modules', 'vscode-textmate'))) this.skip();
      /* eslint-disable @typescript-eslint/no-require-imports */
      const tm = require(path.join(VS, 'node_modules', 'vscode-textmate')) as TextMate;
      const onig = require(path.join(VS, 'node_modules', 'vscode-oniguruma')) as Oniguruma;
      /* eslint-enable @typescript-eslint/no-require-imports */
      await onig.loadWASM(fs.readFileSync(path.join(VS, 'node_modules', 'vscode-oniguruma', 'release', 'onig.wasm')).buffer as ArrayBuffer);
      const reg = new tm.Registry({
        onigLib: Promise.resolve({ createOnigScanner: (p: string[]) => new onig.OnigScanner(p), createOnigString: (s: string) => new onig.OnigString(s) }),
        loadGrammar: async (scope: string) => {
          if (scope === 'source.python') return tm.parseRawGrammar(fs.readFileSync(path.join(VS, 'extensions', 'python', 'syntaxes', 'MagicPython.tmLanguage.json'), 'utf8'), 'python.json');
          if (scope === 'mmcls.config.injection') return tm.parseRawGrammar(fs.readFileSync(GRAMMAR, 'utf8'), GRAMMAR);
          return null;
        },
        getInjections: (scope: string) => (scope === 'source.python' ? ['mmcls.config.injection'] : undefined),
      });
      const g = (await reg.loadGrammar('source.python'))!;
      lines = (line: string) => {
        const r = g.tokenizeLine(line, tm.INITIAL);
        return r.tokens.flatMap((t) => t.scopes.filter((s) => s.includes('mmcls')).map((s) => [line.slice(t.startIndex, t.endIndex), s] as [string, string]));
      };
    });

    it('_base_ as a name, not inside a path string or a comment', () => {
      assert.deepEqual(lines("_base_ = ['../_base_/models/resnet18.py']  # _base_"), [['_base_', 'keyword.other.mmcls.base.python']]);
      assert.deepEqual(lines('y = _base_.model'), [['_base_', 'keyword.other.mmcls.base.python']]);
    });

    it('registry types in type=... and {"type": ...}, and _delete_', () => {
      assert.deepEqual(lines("model = dict(backbone=dict(type='mmcls.ResNet', _delete_=True), head={'type': 'LinearClsHead'})"), [
        ['mmcls.ResNet', 'entity.name.type.class.mmcls.registry-type.python'],
        ['_delete_', 'keyword.other.mmcls.delete.python'],
        ['LinearClsHead', 'entity.name.type.class.mmcls.registry-type.python'],
      ]);
      assert.deepEqual(lines("x = dict(kind='ResNet')"), []);
    });

    it('{{_base_.x}} and <<_base_.x>> inside strings', () => {
      assert.deepEqual(lines("x = '{{_base_.model}}'"), [
        ['{{', 'punctuation.definition.template-expression.begin.mmcls'],
        ['_base_', 'keyword.other.mmcls.base.python'],
        ['.model', 'variable.other.member.mmcls.python'],
        ['}}', 'punctuation.definition.template-expression.end.mmcls'],
      ]);
      assert.deepEqual(lines("x = '<<_base_.lr>>'").map((t) => t[0]), ['<<', '_base_', '.lr', '>>']);
    });
  });
});

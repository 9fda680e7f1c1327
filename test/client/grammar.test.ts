import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LanguageService } from '../../server/service/service';
import { SEMANTIC_TOKEN_MODIFIERS, SEMANTIC_TOKEN_TYPES } from '../../server/service/types';
import type { ServiceSemanticToken } from '../../server/service/types';

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

interface Manifest {
  contributes: {
    grammars: { scopeName: string; path: string; injectTo: string[] }[];
    semanticTokenModifiers?: { id: string; description: string }[];
    semanticTokenScopes?: { language?: string; scopes: Record<string, string[]> }[];
    configuration: { properties: Record<string, { type: string; default: unknown; markdownDescription?: string; description?: string }> };
  };
}

/** A config that has each kind of semantic token, and the server's tokens for it (in process). */
const SAMPLE = `_base_ = ['../_base_/models/resnet50.py', "../_base_/default_runtime.py"]
model = dict(backbone=dict(type='mmcls.ResNet', depth=50), head={'type': 'LinearClsHead'})
head_cfg = '{{_base_.model.head}}'
lr = '<<_base_.optim_wrapper.optimizer.lr>>'
`;

function sampleTokens(): ServiceSemanticToken[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-sem-'));
  try {
    const f = path.join(dir, 'configs', 'sample.py');
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, SAMPLE);
    const svc = new LanguageService({ roots: [dir] });
    svc.open(f, SAMPLE);
    return svc.semanticTokens(f);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('syntaxes: the config grammar injection', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Manifest;

  it('is contributed as an injection into source.python, and its patterns are valid', () => {
    const g = manifest.contributes.grammars.find((x) => x.scopeName === 'mmcls.config.injection');
    assert.ok(g);
    assert.deepEqual(g.injectTo, ['source.python']);
    assert.equal(path.resolve(ROOT, g.path), GRAMMAR);
    const json = JSON.parse(fs.readFileSync(GRAMMAR, 'utf8')) as { repository: Record<string, { match: string }>; injectionSelector: string };
    assert.equal(json.injectionSelector, 'L:source.python -comment');
    for (const [k, r] of Object.entries(json.repository)) assert.doesNotThrow(() => new RegExp(r.match), k);
  });

  it('the server\'s semantic token modifiers are contributed, and every type.modifier it emits is mapped to one of the grammar\'s scopes', () => {
    assert.deepEqual(manifest.contributes.semanticTokenModifiers?.map((m) => m.id), [...SEMANTIC_TOKEN_MODIFIERS]);
    const scopes = manifest.contributes.semanticTokenScopes?.find((x) => x.language === 'python')?.scopes ?? {};
    for (const sel of Object.keys(scopes)) {
      const [type, modifier] = sel.split('.');
      assert.ok((SEMANTIC_TOKEN_TYPES as readonly string[]).includes(type) && (SEMANTIC_TOKEN_MODIFIERS as readonly string[]).includes(modifier), sel);
    }
    const toks = sampleTokens();
    const emitted = [...new Set(toks.map((t) => `${t.type}.${t.modifier}`))].sort();
    assert.deepEqual(emitted, ['class.registryType', 'keyword.baseReference', 'namespace.basePath', 'property.baseReference']);
    for (const e of emitted) assert.ok(scopes[e]?.length === 1, `${e} is mapped`);
    // The type names are marked without their quotes; each scope is one the grammar (or Python's) gives.
    const lines = SAMPLE.split('\n');
    const texts = toks.filter((t) => t.type === 'class').map((t) => lines[t.line].slice(t.character, t.character + t.length));
    assert.deepEqual(texts, ['mmcls.ResNet', 'LinearClsHead']);
    const grammarText = fs.readFileSync(GRAMMAR, 'utf8');
    for (const e of ['class.registryType', 'keyword.baseReference', 'property.baseReference']) assert.ok(grammarText.includes(`"${scopes[e][0]}"`), `${scopes[e][0]} is a scope of the grammar`);
  });

  it('mmcls.semanticHighlighting.enable is declared (and the grammar switch that could not work is gone)', () => {
    const props = manifest.contributes.configuration.properties;
    assert.equal(props['mmcls.grammar.enable'], undefined);
    const s = props['mmcls.semanticHighlighting.enable'];
    assert.equal(s?.type, 'boolean');
    assert.equal(s?.default, true);
    assert.match(String(s?.markdownDescription), /cannot switch a contributed grammar off/);
    const client = fs.readFileSync(path.join(ROOT, 'client', 'extension.ts'), 'utf8');
    assert.match(client, /semanticHighlighting\.enable/);
  });

  describe('tokenized by VS Code\'s TextMate engine', function () {
    let lines: (line: string) => [string, string][];
    let scopesAt: (line: string) => { startIndex: number; endIndex: number; scopes: string[] }[];
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
      scopesAt = (line: string) => g.tokenizeLine(line, tm.INITIAL).tokens;
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

    it('each semantic token covers exactly the text the grammar gives the scope it is mapped to', () => {
      const scopes = manifest.contributes.semanticTokenScopes?.find((x) => x.language === 'python')?.scopes ?? {};
      const text = SAMPLE.split('\n');
      const toks = sampleTokens();
      assert.ok(toks.length >= 8, JSON.stringify(toks));
      for (const t of toks) {
        const scope = scopes[`${t.type}.${t.modifier}`][0];
        const tm = scopesAt(text[t.line]);
        const inside = tm.filter((x) => x.startIndex < t.character + t.length && x.endIndex > t.character);
        const where = `${t.type}.${t.modifier} at ${t.line}:${t.character} ${JSON.stringify(text[t.line].slice(t.character, t.character + t.length))}`;
        // The grammar's tokens with that scope start and end where the semantic token does.
        assert.ok(inside.length > 0 && inside.every((x) => x.scopes.includes(scope)), `${where}: ${JSON.stringify(inside)}`);
        assert.equal(inside[0].startIndex, t.character, where);
        assert.equal(inside[inside.length - 1].endIndex, t.character + t.length, where);
        const before = tm.find((x) => x.endIndex === t.character);
        const after = tm.find((x) => x.startIndex === t.character + t.length);
        assert.ok(!before?.scopes.includes(scope), `${where}: the scope goes on before it`);
        assert.ok(!after?.scopes.includes(scope), `${where}: the scope goes on after it`);
      }
    });
  });
});

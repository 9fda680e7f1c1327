/**
 * Generates the registry schema (runtime/registry/schema-types.ts) from the runtime's TypeScript:
 * every class decorated with `@REG.registerModule(...)` or added with `REG.add(Cls, 'Name')`, its
 * JSDoc, source location and constructor options (read from the `<Class>Options` interface,
 * following `extends`, type aliases, imports and re-exports).
 *
 * It reads syntax only (no type checker), so it stays fast enough to run on every build, and it
 * loads only the files that register something plus those their types lead to.
 *
 *   node dist/scripts/gen-schema.js [--root DIR] [--out FILE] [--strict] [--quiet] [--force] [PATH...]
 *
 * Does nothing when the output is newer than every scanned source (and the generator), unless
 * `--force` or `--strict`.
 * PATHs (files or folders, default `runtime`) are scanned; `--out` defaults to
 * dist/runtime/registry/schema.json, where the runtime and the language server read it.
 * `--strict` exits 1 when there are convention warnings.
 */
import * as fs from 'fs';
import * as path from 'path';
import type {
  ClassDeclaration,
  EnumDeclaration,
  InterfaceDeclaration,
  JSDoc,
  Node,
  Project,
  PropertySignature,
  SourceFile,
  TypeAliasDeclaration,
  TypeNode,
} from 'ts-morph';
import { parsePythonLiteral } from '../runtime/registry/pyliteral';
import {
  ComponentSchema,
  JsonValue,
  OptionSchema,
  RegistrySchema,
  SCHEMA_VERSION,
  SchemaLocation,
  SchemaWarning,
  TypeKind,
} from '../runtime/registry/schema-types';

// ts-morph (and the TypeScript compiler in it) takes most of a second to load: it is loaded only
// when a schema is generated, not when the command finds the schema up to date.
type TsMorph = typeof import('ts-morph');
let N: TsMorph['Node'];
let SK: TsMorph['SyntaxKind'];
function loadTsMorph(): TsMorph {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tm = require('ts-morph') as TsMorph;
  N = tm.Node;
  SK = tm.SyntaxKind;
  return tm;
}

export interface GenerateOptions {
  /** Repository root: file paths in the schema are relative to it. */
  root: string;
  /** Files or folders to scan, relative to `root` or absolute. Default `['runtime']`. */
  include?: string[];
}

/** MODELS categories implied by a superclass name (see runtime/registry/README.md). */
const CATEGORY_OF_BASE: Record<string, string> = {
  BaseClassifier: 'classifier',
  BaseBackbone: 'backbone',
  BaseNeck: 'neck',
  BaseHead: 'head',
  ClsHead: 'head',
  BaseLoss: 'loss',
  BaseDataPreprocessor: 'data_preprocessor',
  _BatchNorm: 'norm',
};

/** MODELS categories implied by the folder a class lives in (DESIGN.md's runtime layout). */
const CATEGORY_OF_FOLDER: [RegExp, string][] = [
  [/(^|\/)models\/classifiers\//, 'classifier'],
  [/(^|\/)models\/backbones\//, 'backbone'],
  [/(^|\/)models\/necks\//, 'neck'],
  [/(^|\/)models\/heads\//, 'head'],
  [/(^|\/)models\/losses\//, 'loss'],
  [/(^|\/)models\/data_preprocessor/, 'data_preprocessor'],
  [/(^|\/)models\/utils\/batch_augments\//, 'batch_augment'],
  [/(^|\/)nn\/norm/, 'norm'],
  [/(^|\/)nn\/activation/, 'activation'],
  [/(^|\/)nn\/conv/, 'conv'],
  [/(^|\/)nn\/pool/, 'pooling'],
];

const MAX_DICT_DEPTH = 3;

type Declaration = ClassDeclaration | InterfaceDeclaration | TypeAliasDeclaration | EnumDeclaration | Node;

interface DocInfo {
  text: string;
  tags: Record<string, string>;
}

interface Registration {
  registry: string;
  type: string;
  cls: ClassDeclaration;
  aliasOf?: string;
}

interface OptionsResult {
  options: OptionSchema[];
  allowsExtra: boolean;
}

/** Builds the schema for the given files and folders. Deterministic: same sources, same JSON. */
export function generateSchema(opts: GenerateOptions): RegistrySchema {
  return new SchemaGenerator(path.resolve(opts.root)).run(opts.include ?? ['runtime']);
}

class SchemaGenerator {
  private readonly project: Project = new (loadTsMorph().Project)({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
    skipLoadingLibFiles: true,
    compilerOptions: { allowJs: false },
  });
  private readonly warnings: SchemaWarning[] = [];
  private readonly warned = new Set<string>();

  constructor(private readonly root: string) {}

  run(include: string[]): RegistrySchema {
    const files = new Set<string>();
    for (const inc of include) collectTsFiles(path.resolve(this.root, inc), files);
    const registrations: Registration[] = [];
    for (const file of [...files].sort()) {
      const text = fs.readFileSync(file, 'utf8');
      if (!/registerModule\s*\(|\b[A-Z][A-Z0-9_]*\s*\.\s*add\s*\(/.test(text)) continue;
      const sf = this.load(file);
      if (sf) registrations.push(...this.findRegistrations(sf));
    }
    const components: ComponentSchema[] = [];
    const seen = new Map<string, Registration>();
    for (const reg of registrations) {
      const key = `${reg.registry}\0${reg.type}`;
      const prior = seen.get(key);
      if (prior) {
        if (prior.cls !== reg.cls) {
          this.warn(reg.cls, `${reg.type} is registered twice in ${reg.registry} (also ${this.where(prior.cls)})`);
        }
        continue;
      }
      seen.set(key, reg);
      components.push(this.component(reg));
    }
    components.sort((a, b) => cmp(a.registry, b.registry) || cmp(a.type, b.type));
    this.warnings.sort((a, b) => cmp(a.location.file, b.location.file) || a.location.line - b.location.line);
    return {
      version: SCHEMA_VERSION,
      registries: [...new Set(components.map((c) => c.registry))].sort(),
      components,
      warnings: this.warnings,
    };
  }

  // ---------------------------------------------------------------- files and names

  private load(file: string): SourceFile | undefined {
    return this.project.getSourceFile(file) ?? this.project.addSourceFileAtPathIfExists(file);
  }

  private resolveModule(from: SourceFile, spec: string): SourceFile | undefined {
    if (!spec.startsWith('.')) return undefined;
    const base = path.resolve(path.dirname(from.getFilePath()), spec);
    for (const cand of [base, `${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')]) {
      if (/\.tsx?$/.test(cand) && !cand.endsWith('.d.ts') && fs.existsSync(cand) && fs.statSync(cand).isFile()) {
        return this.load(cand);
      }
    }
    return undefined;
  }

  /** The declaration a name refers to in `sf`: local, imported, or re-exported. */
  private resolveName(sf: SourceFile, name: string, depth = 0): Declaration | undefined {
    if (depth > 12) return undefined;
    const local = this.localDeclaration(sf, name);
    if (local) return local;
    for (const imp of sf.getImportDeclarations()) {
      for (const ni of imp.getNamedImports()) {
        const alias = ni.getAliasNode()?.getText() ?? ni.getName();
        if (alias !== name) continue;
        const target = this.resolveModule(sf, imp.getModuleSpecifierValue());
        return target ? this.resolveExport(target, ni.getName(), depth + 1) : undefined;
      }
    }
    return undefined;
  }

  /** A qualified name `ns.Name` where `ns` is `import * as ns from '...'`. */
  private resolveQualified(sf: SourceFile, text: string): Declaration | undefined {
    const parts = text.split('.');
    if (parts.length === 1) return this.resolveName(sf, text);
    if (parts.length !== 2) return undefined;
    for (const imp of sf.getImportDeclarations()) {
      if (imp.getNamespaceImport()?.getText() === parts[0]) {
        const target = this.resolveModule(sf, imp.getModuleSpecifierValue());
        return target ? this.resolveExport(target, parts[1], 1) : undefined;
      }
    }
    return undefined;
  }

  private resolveExport(sf: SourceFile, name: string, depth: number): Declaration | undefined {
    if (depth > 12) return undefined;
    const local = this.localDeclaration(sf, name);
    if (local) return local;
    for (const ed of sf.getExportDeclarations()) {
      const spec = ed.getModuleSpecifierValue();
      const named = ed.getNamedExports();
      if (named.length) {
        for (const ne of named) {
          const exported = ne.getAliasNode()?.getText() ?? ne.getName();
          if (exported !== name) continue;
          if (spec === undefined) return this.resolveName(sf, ne.getName(), depth + 1);
          const target = this.resolveModule(sf, spec);
          return target ? this.resolveExport(target, ne.getName(), depth + 1) : undefined;
        }
      } else if (spec !== undefined && !ed.getNamespaceExport()) {
        const target = this.resolveModule(sf, spec);
        const found = target && this.resolveExport(target, name, depth + 1);
        if (found) return found;
      }
    }
    // `import { X } from './y'; export { X };` is covered above; `import {X}` then used locally too.
    return this.resolveImportOnly(sf, name, depth);
  }

  private resolveImportOnly(sf: SourceFile, name: string, depth: number): Declaration | undefined {
    for (const imp of sf.getImportDeclarations()) {
      for (const ni of imp.getNamedImports()) {
        if ((ni.getAliasNode()?.getText() ?? ni.getName()) !== name) continue;
        const target = this.resolveModule(sf, imp.getModuleSpecifierValue());
        return target ? this.resolveExport(target, ni.getName(), depth + 1) : undefined;
      }
    }
    return undefined;
  }

  private localDeclaration(sf: SourceFile, name: string): Declaration | undefined {
    return (
      sf.getInterface(name) ??
      sf.getTypeAlias(name) ??
      sf.getClass(name) ??
      sf.getEnum(name) ??
      sf.getVariableDeclaration(name)
    );
  }

  // ---------------------------------------------------------------- registrations

  /** `new Registry('NAME')` behind an expression such as `MODELS` or `registry.MODELS`. */
  private registryName(sf: SourceFile, expr: Node): string | undefined {
    const text = expr.getText();
    const decl = this.resolveQualified(sf, text);
    if (decl && N.isVariableDeclaration(decl)) {
      const init = decl.getInitializer();
      if (init && N.isNewExpression(init) && /(^|\.)Registry$/.test(init.getExpression().getText())) {
        const declFile = this.rel(decl.getSourceFile().getFilePath());
        if (declFile.startsWith('runtime/') && declFile !== 'runtime/registry/index.ts') {
          // A second registry of the same name is a different object: types registered in it are
          // invisible to REGISTRIES, the runner and the language server's slots.
          this.warn(decl, `registry ${text} is declared here; import it from runtime/registry/index.ts instead`);
        }
        const arg = init.getArguments()[0];
        if (arg && N.isStringLiteral(arg)) return arg.getLiteralValue();
        return text.split('.').pop();
      }
      return undefined;
    }
    // Unresolvable (e.g. imported from outside the scanned tree): trust an UPPER_CASE name.
    const last = text.split('.').pop() ?? text;
    return /^[A-Z][A-Z0-9_]*$/.test(last) ? last : undefined;
  }

  private findRegistrations(sf: SourceFile): Registration[] {
    const out: Registration[] = [];
    // Registered classes and `REG.add(...)` calls are top-level statements; walking only those keeps this fast.
    for (const cls of sf.getClasses()) {
      for (const dec of cls.getDecorators()) {
        const call = dec.getCallExpression();
        const callee = call?.getExpression();
        if (!call || !callee || !N.isPropertyAccessExpression(callee) || callee.getName() !== 'registerModule') continue;
        const registry = this.registryName(sf, callee.getExpression());
        if (!registry) {
          this.warn(cls, `cannot tell which registry ${callee.getExpression().getText()} is`);
          continue;
        }
        const className = cls.getName() ?? '';
        const arg = call.getArguments()[0];
        const type = arg && N.isStringLiteral(arg) ? arg.getLiteralValue() : className;
        out.push({ registry, type, cls });
      }
    }
    for (const stmt of sf.getStatements()) {
      if (!N.isExpressionStatement(stmt)) continue;
      const call = stmt.getExpression();
      if (!N.isCallExpression(call)) continue;
      const callee = call.getExpression();
      if (!N.isPropertyAccessExpression(callee) || callee.getName() !== 'add') continue;
      const [clsArg, nameArg] = call.getArguments();
      if (!clsArg || !N.isIdentifier(clsArg)) continue;
      const registry = this.registryName(sf, callee.getExpression());
      if (!registry || !/^[A-Z]/.test(callee.getExpression().getText().split('.').pop() ?? '')) continue;
      const decl = this.resolveName(sf, clsArg.getText());
      if (!decl || !N.isClassDeclaration(decl)) continue;
      const className = decl.getName() ?? clsArg.getText();
      const type = nameArg && N.isStringLiteral(nameArg) ? nameArg.getLiteralValue() : className;
      out.push({ registry, type, cls: decl, aliasOf: type !== className ? className : undefined });
    }
    return out;
  }

  // ---------------------------------------------------------------- components

  private component(reg: Registration): ComponentSchema {
    const { cls } = reg;
    const className = cls.getName() ?? reg.type;
    const doc = docOf(cls.getJsDocs());
    if (!doc.text) this.warn(cls.getNameNode() ?? cls, `registered class ${className} has no JSDoc (the text users see on hover)`);
    const chain = this.classChain(cls);
    const bases = chain.slice(1).map((c) => (typeof c === 'string' ? c : c.getName() ?? '?'));
    const category = this.category(reg, chain, doc);
    const ctorInfo = this.constructorOptions(cls, chain);
    const { category: _c, ...otherTags } = doc.tags;
    const comp: ComponentSchema = {
      registry: reg.registry,
      type: reg.type,
      className,
      ...(reg.aliasOf ? { aliasOf: reg.aliasOf } : {}),
      ...(category ? { category } : {}),
      summary: firstSentence(doc.text),
      doc: doc.text,
      ...(Object.keys(otherTags).length ? { tags: otherTags } : {}),
      bases,
      ...(ctorInfo.optionsType ? { optionsType: ctorInfo.optionsType } : {}),
      allowsExtra: ctorInfo.allowsExtra,
      options: ctorInfo.options,
      location: this.loc(cls.getNameNode() ?? cls),
    };
    return comp;
  }

  /** The class, then its superclasses as far as they resolve (a name string where one does not). */
  private classChain(cls: ClassDeclaration): (ClassDeclaration | string)[] {
    const chain: (ClassDeclaration | string)[] = [cls];
    let cur: ClassDeclaration | undefined = cls;
    while (cur && chain.length < 20) {
      const ext = cur.getExtends();
      if (!ext) break;
      const name = ext.getExpression().getText();
      const decl = this.resolveQualified(cur.getSourceFile(), name);
      if (decl && N.isClassDeclaration(decl)) {
        chain.push(decl);
        cur = decl;
      } else {
        chain.push(name.split('.').pop() ?? name);
        cur = undefined;
      }
    }
    return chain;
  }

  private category(reg: Registration, chain: (ClassDeclaration | string)[], doc: DocInfo): string | undefined {
    if (doc.tags.category) return doc.tags.category.trim();
    for (const c of chain.slice(1)) {
      if (typeof c !== 'string') {
        const tag = docOf(c.getJsDocs()).tags.category;
        if (tag) return tag.trim();
      }
      const name = typeof c === 'string' ? c : c.getName() ?? '';
      if (CATEGORY_OF_BASE[name]) return CATEGORY_OF_BASE[name];
    }
    if (reg.registry !== 'MODELS') return undefined;
    const rel = this.rel(reg.cls.getSourceFile().getFilePath());
    for (const [re, cat] of CATEGORY_OF_FOLDER) if (re.test(rel)) return cat;
    return undefined;
  }

  private constructorOptions(
    cls: ClassDeclaration,
    chain: (ClassDeclaration | string)[],
  ): { optionsType?: string; allowsExtra: boolean; options: OptionSchema[] } {
    for (const c of chain) {
      if (typeof c === 'string') {
        // The constructor is inherited from a class outside the scanned sources.
        this.warn(cls, `cannot read the constructor of ${cls.getName()}: its superclass ${c} is not in the scanned sources`);
        return { allowsExtra: true, options: [] };
      }
      const ctors = c.getConstructors();
      if (!ctors.length) {
        // No constructor of its own: the convention's `<Class>Options`, when declared, names the
        // options it reads (a subclass adding options and reading them in overridden methods).
        const own = this.conventionalOptions(c);
        if (own) return own;
        continue;
      }
      const ctor = ctors.find((k) => k.getBody() !== undefined) ?? ctors[0];
      const param = ctor.getParameters()[0];
      if (!param) return { allowsExtra: false, options: [] };
      const typeNode = param.getTypeNode();
      if (!typeNode) {
        this.warn(ctor, `the options parameter of ${c.getName()} has no type: declare an interface ${c.getName()}Options`);
        return { allowsExtra: true, options: [] };
      }
      const res = this.optionsOf(typeNode, new Set(), 0);
      if (!res) {
        this.warn(typeNode, `cannot read the options type ${typeNode.getText()} of ${c.getName()}`);
        return { optionsType: typeNode.getText(), allowsExtra: true, options: [] };
      }
      if (N.isTypeReference(typeNode) || N.isTypeLiteral(typeNode)) {
        for (const opt of res.options) this.checkOption(opt);
      }
      return { optionsType: typeNode.getText(), allowsExtra: res.allowsExtra, options: res.options };
    }
    return { allowsExtra: false, options: [] };
  }

  private conventionalOptions(c: ClassDeclaration): { optionsType: string; allowsExtra: boolean; options: OptionSchema[] } | undefined {
    const name = `${c.getName()}Options`;
    const decl = this.resolveName(c.getSourceFile(), name);
    let res: OptionsResult | undefined;
    if (decl && N.isInterfaceDeclaration(decl)) res = this.interfaceOptions(decl, new Set([decl]), 0);
    else if (decl && N.isTypeAliasDeclaration(decl) && decl.getTypeNode()) res = this.optionsOf(decl.getTypeNode() as TypeNode, new Set([decl]), 0, name);
    if (!res) return undefined;
    for (const opt of res.options) this.checkOption(opt);
    return { optionsType: name, allowsExtra: res.allowsExtra, options: res.options };
  }

  private checkOption(opt: OptionSchema): void {
    const at = opt.location;
    if (!opt.doc) this.warnAt(at, `option ${opt.name} of ${opt.declaredIn} has no JSDoc sentence`);
    if (!opt.required && opt.defaultText === undefined && !opt.injected) {
      this.warnAt(at, `optional option ${opt.name} of ${opt.declaredIn} has no @default tag (MMClassification's default as a Python literal)`);
    }
  }

  /** Options declared by an options type node; undefined when it cannot be read. */
  private optionsOf(node: TypeNode, seen: Set<Node>, depth: number, owner = '{...}'): OptionsResult | undefined {
    if (depth > 12) return undefined;
    if (N.isParenthesizedTypeNode(node)) return this.optionsOf(node.getTypeNode(), seen, depth + 1, owner);
    if (N.isTypeLiteral(node)) {
      return {
        options: node.getProperties().map((p) => this.option(p, owner, seen, depth)),
        allowsExtra: node.getIndexSignatures().length > 0,
      };
    }
    if (N.isIntersectionTypeNode(node)) {
      const parts = node.getTypeNodes().map((t) => this.optionsOf(t, seen, depth + 1, owner));
      if (parts.some((p) => !p)) return undefined;
      return mergeOptions(parts as OptionsResult[]);
    }
    if (N.isUnionTypeNode(node)) {
      // `FooOptions | Transform[]`: a config is always a dict, so only the object members count.
      const parts = node
        .getTypeNodes()
        .filter((t) => !isNonDictType(t))
        .map((t) => this.optionsOf(t, seen, depth + 1, owner));
      if (!parts.length || parts.some((p) => !p)) return undefined;
      return mergeOptions(parts as OptionsResult[]);
    }
    if (!N.isTypeReference(node)) return undefined;
    const name = node.getTypeName().getText();
    const args = node.getTypeArguments();
    const util = this.utilityOptions(name, args, seen, depth, owner);
    if (util !== null) return util;
    const decl = this.resolveQualified(node.getSourceFile(), name);
    if (!decl || seen.has(decl)) return undefined;
    seen.add(decl);
    try {
      if (N.isInterfaceDeclaration(decl)) return this.interfaceOptions(decl, seen, depth);
      if (N.isTypeAliasDeclaration(decl)) {
        const t = decl.getTypeNode();
        return t ? this.optionsOf(t, seen, depth + 1, decl.getName()) : undefined;
      }
    } finally {
      seen.delete(decl);
    }
    return undefined;
  }

  /** `Partial<X>`, `Readonly<X>`, `Required<X>`, `Omit<X, 'a'>`, `Pick<X, 'a'>`; null when `name` is none of them. */
  private utilityOptions(name: string, args: TypeNode[], seen: Set<Node>, depth: number, owner: string): OptionsResult | undefined | null {
    if ((name === 'Partial' || name === 'Readonly' || name === 'Required') && args.length === 1) {
      const inner = this.optionsOf(args[0], seen, depth + 1, owner);
      if (!inner || name === 'Readonly') return inner;
      return {
        allowsExtra: inner.allowsExtra,
        options: inner.options.map((o) => ({ ...o, required: name === 'Required' })),
      };
    }
    if ((name === 'Omit' || name === 'Pick') && args.length === 2) {
      const inner = this.optionsOf(args[0], seen, depth + 1, owner);
      if (!inner) return undefined;
      const keys = new Set(literalStrings(args[1]));
      return {
        allowsExtra: inner.allowsExtra,
        options: inner.options.filter((o) => (name === 'Omit' ? !keys.has(o.name) : keys.has(o.name))),
      };
    }
    return null;
  }

  private interfaceOptions(decl: InterfaceDeclaration, seen: Set<Node>, depth: number): OptionsResult | undefined {
    const parts: OptionsResult[] = [
      {
        options: decl.getProperties().map((p) => this.option(p, decl.getName(), seen, depth)),
        allowsExtra: decl.getIndexSignatures().length > 0,
      },
    ];
    for (const ext of decl.getExtends()) {
      const exprText = ext.getExpression().getText();
      const util = this.utilityOptions(exprText, ext.getTypeArguments(), seen, depth, decl.getName());
      if (util !== null) {
        if (!util) this.warn(decl, `cannot read ${ext.getText()}, which ${decl.getName()} extends`);
        parts.push(util ?? { options: [], allowsExtra: true });
        continue;
      }
      const target = this.resolveQualified(decl.getSourceFile(), exprText);
      if (!target || seen.has(target)) {
        this.warn(decl, `cannot read ${exprText}, which ${decl.getName()} extends`);
        parts.push({ options: [], allowsExtra: true });
        continue;
      }
      seen.add(target);
      let inherited: OptionsResult | undefined;
      if (N.isInterfaceDeclaration(target)) inherited = this.interfaceOptions(target, seen, depth + 1);
      else if (N.isTypeAliasDeclaration(target) && target.getTypeNode()) {
        inherited = this.optionsOf(target.getTypeNode() as TypeNode, seen, depth + 1, target.getName());
      }
      seen.delete(target);
      parts.push(inherited ?? { options: [], allowsExtra: true });
    }
    return mergeOptions(parts);
  }

  private option(prop: PropertySignature, declaredIn: string, seen: Set<Node> = new Set(), depth = 0): OptionSchema {
    const doc = docOf(prop.getJsDocs());
    const typeNode = prop.getTypeNode();
    let kind: TypeKind = typeNode ? this.kindOf(typeNode, seen, depth + 1) : { kind: 'any' };
    const { default: defaultText, injected, ...tags } = doc.tags;
    if (tags.registry !== undefined || (tags.category !== undefined && containsDict(kind))) {
      kind = asConfig(kind, tags.registry?.trim() || undefined, tags.category?.trim() || undefined);
    }
    const opt: OptionSchema = {
      name: prop.getName().replace(/^['"]|['"]$/g, ''),
      type: typeNode ? collapse(typeNode.getText()) : 'any',
      kind,
      required: !prop.hasQuestionToken(),
      doc: doc.text,
      declaredIn,
      location: this.loc(prop.getNameNode()),
    };
    if (injected !== undefined) opt.injected = true;
    if (defaultText !== undefined) {
      const text = defaultText.trim();
      opt.defaultText = text;
      try {
        opt.default = parsePythonLiteral(text);
      } catch (e) {
        this.warn(prop, `@default ${text} of ${opt.name} is not a Python literal: ${(e as Error).message}`);
      }
      if (opt.required) this.warn(prop, `option ${opt.name} has a @default but is not optional (add "?")`);
    }
    if (Object.keys(tags).length) opt.tags = tags;
    return opt;
  }

  // ---------------------------------------------------------------- type kinds

  private kindOf(node: TypeNode, seen: Set<Node>, depth: number): TypeKind {
    if (depth > 20) return { kind: 'any' };
    const k = node.getKind();
    switch (k) {
      case SK.NumberKeyword:
        return { kind: 'number' };
      case SK.StringKeyword:
        return { kind: 'string' };
      case SK.BooleanKeyword:
        return { kind: 'boolean' };
      case SK.NullKeyword:
        return { kind: 'null' };
      case SK.ObjectKeyword:
        return { kind: 'dict' };
      default:
        break;
    }
    if (N.isParenthesizedTypeNode(node)) return this.kindOf(node.getTypeNode(), seen, depth + 1);
    if (N.isTypeOperatorTypeNode(node)) return this.kindOf(node.getTypeNode(), seen, depth + 1);
    if (N.isLiteralTypeNode(node)) {
      const v = literalValue(node);
      return v === undefined ? { kind: 'any' } : v === null ? { kind: 'null' } : { kind: 'enum', values: [v] };
    }
    if (N.isUnionTypeNode(node)) {
      return unionOf(
        node
          .getTypeNodes()
          .filter((t) => t.getKind() !== SK.UndefinedKeyword)
          .map((t) => this.kindOf(t, seen, depth + 1)),
      );
    }
    if (N.isArrayTypeNode(node)) return { kind: 'array', items: this.kindOf(node.getElementTypeNode(), seen, depth + 1) };
    if (N.isTupleTypeNode(node)) {
      const items: TypeKind[] = [];
      let rest: TypeKind | undefined;
      for (const el of node.getElements()) {
        let t: Node = el;
        if (N.isNamedTupleMember(t)) t = t.getTypeNode();
        if (t.getKind() === SK.RestType) {
          const inner = (t as TypeNode).getChildAtIndex(1) as TypeNode;
          const ik = this.kindOf(inner, seen, depth + 1);
          rest = ik.kind === 'array' ? ik.items : ik;
        } else if (t.getKind() === SK.OptionalType) {
          items.push(this.kindOf((t as TypeNode).getChildAtIndex(0) as TypeNode, seen, depth + 1));
        } else {
          items.push(this.kindOf(t as TypeNode, seen, depth + 1));
        }
      }
      return rest ? { kind: 'tuple', items, rest } : { kind: 'tuple', items };
    }
    if (N.isTypeLiteral(node)) {
      // `{ type: string; [key: string]: unknown }` is how a component config reads without ComponentConfig.
      const typeProp = node.getProperty('type');
      if (typeProp && !typeProp.hasQuestionToken() && typeProp.getTypeNode()?.getKind() === SK.StringKeyword) {
        return { kind: 'config' };
      }
      return this.dictKind(node, seen, depth);
    }
    if (N.isIntersectionTypeNode(node)) {
      const parts = node.getTypeNodes().map((t) => this.kindOf(t, seen, depth + 1));
      const cfg = parts.find((p) => p.kind === 'config');
      return cfg ?? (parts.every((p) => p.kind === 'dict') ? { kind: 'dict' } : { kind: 'any' });
    }
    if (N.isTypeReference(node)) return this.referenceKind(node, seen, depth);
    return { kind: 'any' };
  }

  private dictKind(node: Node, seen: Set<Node>, depth: number): TypeKind {
    let props: PropertySignature[] = [];
    let indexType: TypeNode | undefined;
    if (N.isTypeLiteral(node) || N.isInterfaceDeclaration(node)) {
      props = node.getProperties();
      indexType = node.getIndexSignatures()[0]?.getReturnTypeNode();
    }
    const out: { kind: 'dict'; values?: TypeKind; properties?: OptionSchema[] } = { kind: 'dict' };
    if (indexType) out.values = this.kindOf(indexType, seen, depth + 1);
    if (props.length && depth < MAX_DICT_DEPTH * 4) {
      const owner = N.isInterfaceDeclaration(node) ? node.getName() : '{...}';
      out.properties = props.map((p) => this.option(p, owner, seen, depth + 1));
    }
    return out;
  }

  private referenceKind(node: TypeNode, seen: Set<Node>, depth: number): TypeKind {
    if (!N.isTypeReference(node)) return { kind: 'any' };
    const name = node.getTypeName().getText();
    const args = node.getTypeArguments();
    const last = name.split('.').pop() ?? name;
    switch (last) {
      case 'int':
      case 'Int':
      case 'integer':
        return { kind: 'integer' };
      case 'ComponentConfig': {
        const [reg, cat] = args.map((a) => literalStrings(a)[0]);
        return { kind: 'config', ...(reg ? { registry: reg } : {}), ...(cat ? { category: cat } : {}) };
      }
      case 'ConfigDict':
        return { kind: 'dict' };
      case 'Array':
      case 'ReadonlyArray':
        return { kind: 'array', items: args[0] ? this.kindOf(args[0], seen, depth + 1) : { kind: 'any' } };
      case 'Record':
        return { kind: 'dict', ...(args[1] ? { values: this.kindOf(args[1], seen, depth + 1) } : {}) };
      case 'Partial':
      case 'Readonly':
      case 'Required':
        return args[0] ? this.kindOf(args[0], seen, depth + 1) : { kind: 'any' };
      case 'Omit':
      case 'Pick':
        return { kind: 'dict' };
      default:
        break;
    }
    const decl = this.resolveQualified(node.getSourceFile(), name);
    if (!decl || seen.has(decl)) return { kind: 'any' };
    seen.add(decl);
    try {
      if (N.isTypeAliasDeclaration(decl)) {
        const t = decl.getTypeNode();
        return t ? this.kindOf(t, seen, depth + 1) : { kind: 'any' };
      }
      if (N.isClassDeclaration(decl)) return { kind: 'instance', name: decl.getName() ?? last };
      if (N.isInterfaceDeclaration(decl)) {
        if (decl.getMethods().length) return { kind: 'instance', name: decl.getName() };
        if (depth >= MAX_DICT_DEPTH * 4) return { kind: 'dict' };
        const res = this.interfaceOptions(decl, seen, depth + 1);
        const out: { kind: 'dict'; values?: TypeKind; properties?: OptionSchema[] } = { kind: 'dict' };
        if (res?.options.length) out.properties = res.options;
        return out;
      }
      if (N.isEnumDeclaration(decl)) {
        const values: (string | number)[] = [];
        let next = 0;
        for (const m of decl.getMembers()) {
          const v = m.getValue();
          if (typeof v === 'number') next = v + 1;
          values.push(v ?? next++);
        }
        return { kind: 'enum', values };
      }
    } finally {
      seen.delete(decl);
    }
    return { kind: 'any' };
  }

  // ---------------------------------------------------------------- locations and warnings

  private rel(file: string): string {
    return path.relative(this.root, file).split(path.sep).join('/');
  }

  private loc(node: Node): SchemaLocation {
    const sf = node.getSourceFile();
    const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
    return { file: this.rel(sf.getFilePath()), line, column };
  }

  private where(node: Node): string {
    const l = this.loc(node);
    return `${l.file}:${l.line}:${l.column}`;
  }

  private warn(node: Node, message: string): void {
    this.warnAt(this.loc(node), message);
  }

  private warnAt(location: SchemaLocation, message: string): void {
    const key = `${location.file}:${location.line}:${location.column}:${message}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warnings.push({ message, location });
  }
}

// ------------------------------------------------------------------ helpers

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function collectTsFiles(p: string, out: Set<string>): void {
  if (!fs.existsSync(p)) return;
  const st = fs.statSync(p);
  if (st.isFile()) {
    if (/\.tsx?$/.test(p) && !p.endsWith('.d.ts')) out.add(p);
    return;
  }
  for (const ent of fs.readdirSync(p, { withFileTypes: true })) {
    if (ent.name === 'node_modules' || ent.name.startsWith('.')) continue;
    collectTsFiles(path.join(p, ent.name), out);
  }
}

function docOf(docs: JSDoc[]): DocInfo {
  const texts: string[] = [];
  const tags: Record<string, string> = {};
  for (const d of docs) {
    const desc = (d.getDescription() ?? '').trim();
    if (desc) texts.push(desc);
    for (const t of d.getTags()) {
      const name = t.getTagName();
      const text = (t.getCommentText() ?? '').trim();
      tags[name] = tags[name] !== undefined && text ? `${tags[name]}\n${text}` : text;
    }
  }
  return { text: texts.join('\n\n').replace(/[ \t]+\n/g, '\n'), tags };
}

function firstSentence(text: string): string {
  const para = text.split(/\n\s*\n/)[0].replace(/\s+/g, ' ').trim();
  const m = /^(.*?[.!?])(\s|$)/.exec(para);
  return m ? m[1] : para;
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Type nodes that can never be a config dict (lists, primitives, literals, undefined). */
function isNonDictType(t: TypeNode): boolean {
  const k = t.getKind();
  return (
    N.isArrayTypeNode(t) ||
    N.isTupleTypeNode(t) ||
    N.isLiteralTypeNode(t) ||
    k === SK.UndefinedKeyword ||
    k === SK.NumberKeyword ||
    k === SK.StringKeyword ||
    k === SK.BooleanKeyword ||
    (N.isTypeReference(t) && /^(Array|ReadonlyArray)$/.test(t.getTypeName().getText()))
  );
}

function literalValue(node: Node): string | number | boolean | null | undefined {
  if (!N.isLiteralTypeNode(node)) return undefined;
  const lit = node.getLiteral();
  if (N.isStringLiteral(lit) || N.isNoSubstitutionTemplateLiteral(lit)) return lit.getLiteralValue();
  if (N.isNumericLiteral(lit)) return lit.getLiteralValue();
  if (lit.getKind() === SK.TrueKeyword) return true;
  if (lit.getKind() === SK.FalseKeyword) return false;
  if (lit.getKind() === SK.NullKeyword) return null;
  if (N.isPrefixUnaryExpression(lit)) {
    const v = Number(lit.getText().replace(/\s+/g, ''));
    return Number.isFinite(v) ? v : undefined;
  }
  return undefined;
}

function literalStrings(node: Node): string[] {
  if (N.isUnionTypeNode(node)) return node.getTypeNodes().flatMap(literalStrings);
  const v = literalValue(node);
  return typeof v === 'string' ? [v] : [];
}

/** Flattens a union: literal members merge into one enum; one member left stands alone. */
function unionOf(parts: TypeKind[]): TypeKind {
  const flat: TypeKind[] = [];
  for (const p of parts) {
    if (p.kind === 'union') flat.push(...p.anyOf);
    else flat.push(p);
  }
  if (flat.some((p) => p.kind === 'any')) return { kind: 'any' };
  const literals: (string | number | boolean | null)[] = [];
  const others: TypeKind[] = [];
  for (const p of flat) {
    if (p.kind === 'enum') literals.push(...p.values);
    else others.push(p);
  }
  // `true | false` is how `boolean` reads once TypeScript has seen it.
  const members: TypeKind[] = [];
  const uniq = [...new Set(literals)];
  if (uniq.length) {
    if (uniq.length === 2 && uniq.includes(true) && uniq.includes(false)) members.push({ kind: 'boolean' });
    else members.push({ kind: 'enum', values: uniq });
  }
  const seen = new Set<string>();
  for (const o of others) {
    const key = JSON.stringify(o);
    if (!seen.has(key)) {
      seen.add(key);
      members.push(o);
    }
  }
  if (members.length === 1) return members[0];
  return { kind: 'union', anyOf: members };
}

function containsDict(kind: TypeKind): boolean {
  switch (kind.kind) {
    case 'dict':
    case 'any':
      return true;
    case 'array':
      return containsDict(kind.items);
    case 'union':
      return kind.anyOf.some(containsDict);
    default:
      return false;
  }
}

/** Where a JSDoc `@registry` / `@category` says a dict is a nested component config. */
function asConfig(kind: TypeKind, registry?: string, category?: string): TypeKind {
  const cfg: TypeKind = { kind: 'config', ...(registry ? { registry } : {}), ...(category ? { category } : {}) };
  switch (kind.kind) {
    case 'dict':
    case 'any':
      return cfg;
    case 'config':
      return { ...kind, ...(registry ? { registry } : {}), ...(category ? { category } : {}) };
    case 'array':
      return { kind: 'array', items: asConfig(kind.items, registry, category) };
    case 'union':
      return { kind: 'union', anyOf: kind.anyOf.map((k) => asConfig(k, registry, category)) };
    default:
      return kind;
  }
}

/** Earlier parts win and come first (own options before inherited ones, as MMClassification lists them). */
function mergeOptions(parts: OptionsResult[]): OptionsResult {
  const byName = new Map<string, OptionSchema>();
  for (const p of parts) for (const o of p.options) if (!byName.has(o.name)) byName.set(o.name, o);
  return { options: [...byName.values()], allowsExtra: parts.some((p) => p.allowsExtra) };
}


// ------------------------------------------------------------------ command line

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'runtime'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

/** Writes `data` to `file` through a temporary file and a rename, so readers never see half a file. */
export function writeJsonAtomic(file: string, data: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
  fs.renameSync(tmp, file);
}

/** The newest modification time among the `.ts` files and folders under `paths` (folders change when files are added or removed). */
function newestSource(paths: string[]): number {
  let newest = 0;
  const visit = (p: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      newest = Math.max(newest, st.mtimeMs);
      for (const ent of fs.readdirSync(p)) if (ent !== 'node_modules' && !ent.startsWith('.')) visit(path.join(p, ent));
    } else if (/\.tsx?$/.test(p) || p.endsWith('.js')) newest = Math.max(newest, st.mtimeMs);
  };
  paths.forEach(visit);
  return newest;
}

export function main(argv: string[]): number {
  const t0 = process.hrtime.bigint();
  let root = findRoot(__dirname);
  let out: string | undefined;
  let strict = false;
  let quiet = false;
  let force = false;
  const include: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--root') root = path.resolve(argv[++i]);
    else if (a === '--out') out = path.resolve(argv[++i]);
    else if (a === '--strict') strict = true;
    else if (a === '--quiet') quiet = true;
    else if (a === '--force') force = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: gen-schema [--root DIR] [--out FILE] [--strict] [--quiet] [--force] [PATH...]\n');
      return 0;
    } else include.push(a);
  }
  const outFile = out ?? path.join(root, 'dist', 'runtime', 'registry', 'schema.json');
  const scan = include.length ? include : ['runtime'];
  if (!force && !strict && fs.existsSync(outFile)) {
    // Up to date when no source (nor this generator) changed since the file was written.
    const generator = [__filename, require.resolve('../runtime/registry/pyliteral')];
    const newest = newestSource([...scan.map((p) => path.resolve(root, p)), ...generator]);
    if (newest < fs.statSync(outFile).mtimeMs) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      process.stdout.write(`registry schema: up to date (${ms.toFixed(0)} ms) -> ${path.relative(process.cwd(), outFile)}\n`);
      return 0;
    }
  }
  const schema = generateSchema({ root, include: scan });
  writeJsonAtomic(outFile, schema);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!quiet) {
    for (const w of schema.warnings) {
      process.stderr.write(`${w.location.file}:${w.location.line}:${w.location.column}: warning: ${w.message}\n`);
    }
  }
  process.stdout.write(
    `registry schema: ${schema.components.length} components in ${schema.registries.length} registries, ` +
      `${schema.warnings.length} warnings, ${ms.toFixed(0)} ms -> ${path.relative(process.cwd(), outFile)}\n`,
  );
  return strict && schema.warnings.length ? 1 : 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}

export type { JsonValue };

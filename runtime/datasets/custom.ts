import * as fs from 'fs';
import * as path from 'path';
import { DATASETS } from '../registry';
import { MmclsError } from '../errors';
import { IMAGENET_CATEGORIES } from './imagenet_categories';
import { BaseDataset, BaseDatasetOptions, DataInfo, MultiLabelDataset, MultiLabelDatasetOptions, listFromFile } from './base_dataset';

export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif'];

/** Options of CustomDataset. */
export interface CustomDatasetOptions extends BaseDatasetOptions {
  /** File extensions (lower case) of the images to use in the sub-folder layout. @default ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif') */
  extensions?: string[];
}

/**
 * A dataset of your own images: either one sub-folder per class under `data_prefix` (classes are the
 * sorted folder names unless given), or an annotation file of `path label` lines (or an OpenMMLab
 * 2.0 json/yaml/pkl file).
 */
@DATASETS.registerModule()
export class CustomDataset extends BaseDataset {
  readonly extensions: string[];
  folder_to_idx?: Record<string, number>;

  constructor(options: CustomDatasetOptions = {}) {
    const ext = (options.extensions ?? IMG_EXTENSIONS).map((e) => e.toLowerCase());
    // The extension list is needed by loadDataList, which the base constructor may call.
    super({ ...options, lazy_init: true });
    this.extensions = ext;
    if (!(options.lazy_init ?? false)) this.fullInit();
  }

  override loadDataList(): DataInfo[] {
    if (!this.ann_file) return this.findSamples();
    const lower = this.ann_file.toLowerCase();
    if (['.json', '.yaml', '.yml', '.pkl', '.pickle'].some((e) => lower.endsWith(e))) return this.loadOpenMMLabFormat(this.ann_file);
    const lines = listFromFile(this.ann_file, 'annotation file');
    const out: DataInfo[] = [];
    lines.forEach((raw, i) => {
      const line = raw.trim();
      if (!line) return;
      const cut = line.lastIndexOf(' ');
      const name = cut < 0 ? line : line.slice(0, cut).trim();
      const label = cut < 0 ? '' : line.slice(cut + 1);
      if (!/^-?\d+$/.test(label)) {
        throw new MmclsError(`line ${i + 1} of ${this.ann_file} should be "path label" with an integer label, got ${JSON.stringify(raw)}`, {
          code: 'data.bad-annotation',
          location: { file: this.ann_file, line: i + 1 },
        });
      }
      const n = this.CLASSES?.length;
      const l = Number(label);
      if (l < 0 || (n !== undefined && l >= n)) {
        throw new MmclsError(`line ${i + 1} of ${this.ann_file}: label ${l} is outside [0, ${n ?? 'inf'})${n !== undefined ? ` for the ${n} classes` : ''}`, {
          code: 'data.label-out-of-range',
          location: { file: this.ann_file, line: i + 1 },
        });
      }
      out.push({ img_path: this.img_prefix ? path.join(this.img_prefix, name) : name, gt_label: l });
    });
    return out;
  }

  private isValidFile(name: string): boolean {
    const lower = name.toLowerCase();
    return this.extensions.some((e) => lower.endsWith(e));
  }

  /** The sub-folder layout: classes from the sorted folder names, files found recursively. */
  protected findSamples(): DataInfo[] {
    const root = this.img_prefix;
    if (!root) throw new MmclsError(`${this.constructor.name}: give data_prefix (a folder with one sub-folder per class) or ann_file`, { code: 'data.bad-arg' });
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(root, { withFileTypes: true });
    } catch (e) {
      throw new MmclsError(`data_prefix ${root} is not a readable folder: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`, {
        code: 'data.bad-prefix',
        location: { file: root },
        cause: e,
      });
    }
    const folders = entries.filter((d) => d.isDirectory() || (d.isSymbolicLink() && fs.statSync(path.join(root, d.name)).isDirectory())).map((d) => d.name).sort();
    if (!folders.length) {
      throw new MmclsError(`data_prefix ${root} has no sub-folders: the folder layout needs one sub-folder per class (or give ann_file)`, { code: 'data.bad-prefix', location: { file: root } });
    }
    const folderToIdx: Record<string, number> = {};
    folders.forEach((f, i) => (folderToIdx[f] = i));
    const samples: DataInfo[] = [];
    const empty: string[] = [];
    for (const folder of folders) {
      const files: string[] = [];
      const walk = (rel: string) => {
        const dir = path.join(root, folder, rel);
        for (const d of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const r = rel ? path.join(rel, d.name) : d.name;
          const full = path.join(dir, d.name);
          const isDir = d.isDirectory() || (d.isSymbolicLink() && fs.statSync(full).isDirectory());
          if (isDir) walk(r);
          else if (this.isValidFile(d.name)) files.push(r);
        }
      };
      walk('');
      if (!files.length) empty.push(folder);
      for (const f of files) samples.push({ img_path: path.join(root, folder, f), gt_label: folderToIdx[folder] });
    }
    if (!samples.length) {
      throw new MmclsError(`Found 0 files in subfolders of: ${root}. Supported extensions are: ${this.extensions.join(',')}`, { code: 'data.no-samples', location: { file: root } });
    }
    if (empty.length) {
      throw new MmclsError(
        `Found no valid file in the class folder(s) ${empty.map((f) => path.join(root, f)).join(', ')}. Supported extensions are: ${this.extensions.join(',')}. ` +
          'Add images or remove the folder (class indices follow the sorted folder names).',
        { code: 'data.empty-class-folder', location: { file: path.join(root, empty[0]) } },
      );
    }
    const given = this.CLASSES;
    if (given && !this.isDefaultClasses()) {
      if (given.length !== folders.length) {
        throw new MmclsError(`The number of subfolders (${folders.length}) doesn't match the number of specified classes (${given.length}). Please check the data folder ${root}.`, {
          code: 'data.class-count',
          location: { file: root },
        });
      }
    } else if (given && given.length !== folders.length) {
      throw new MmclsError(`The number of subfolders (${folders.length}) of ${root} doesn't match the ${given.length} classes of ${this.constructor.name}; give \`classes\` (a list or a file) for a subset.`, { code: 'data.class-count', location: { file: root } });
    } else if (!given) {
      this._metainfo.classes = folders;
    }
    this.folder_to_idx = folderToIdx;
    return samples;
  }

  private isDefaultClasses(): boolean {
    return (this.constructor as typeof BaseDataset).METAINFO?.classes === this._metainfo.classes;
  }
}

/** Options of ImageNet. */
export interface ImageNetOptions extends CustomDatasetOptions {}

/** ImageNet (ILSVRC 2012): `meta/train.txt`-style annotation files or class sub-folders; the 1000 class names built in. */
@DATASETS.registerModule()
export class ImageNet extends CustomDataset {
  static override METAINFO: Record<string, unknown> = { classes: IMAGENET_CATEGORIES };
  constructor(options: ImageNetOptions = {}) {
    super({ ...options, extensions: options.extensions ?? IMG_EXTENSIONS });
  }
}

/** Options of ImageNet21k. */
export interface ImageNet21kOptions extends CustomDatasetOptions {
  /** Multi-label annotations (not implemented by MMClassification either). @default False */
  multi_label?: boolean;
}

/** ImageNet-21k. It has no built-in class list: give `classes` (a file is practical for 21k names). */
@DATASETS.registerModule()
export class ImageNet21k extends CustomDataset {
  readonly multi_label: boolean;
  constructor(options: ImageNet21kOptions = {}) {
    if (options.multi_label) throw new MmclsError('ImageNet21k: The `multi_label` option is not supported by now.', { code: 'data.not-implemented' });
    const { multi_label: _m, ...rest } = options;
    super(rest);
    this.multi_label = false;
    if (!this.CLASSES) process.emitWarning('The CLASSES is not stored in the `ImageNet21k` class. Considering the large number of categories, loading it from a file (classes=...) is recommended.');
  }
}

DATASETS.add(BaseDataset as never);
DATASETS.add(MultiLabelDataset as never);
export type { MultiLabelDatasetOptions };

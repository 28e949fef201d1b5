import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isDirectory, isImageFileName, listFolderFiles } from './image-folder';

export interface LabelledImage {
  file: string;
  /** The defect type folder ("good" for normal images). */
  defect: string;
  label: 0 | 1;
  /** Ground-truth mask; absent for normal images (all zeros). */
  mask?: string;
}

/**
 * The test split of an MVTec AD category: `test/<defect>/<name>.png`, with masks at
 * `ground_truth/<defect>/<name>_mask.png` for every defect other than `good`.
 */
export async function listMvtecTestSet(categoryDir: string, split = 'test'): Promise<LabelledImage[]> {
  const testDir = path.join(categoryDir, split);
  if (!(await isDirectory(testDir))) throw new Error(`${categoryDir}: no ${split}/ folder (expected an MVTec-style category)`);
  const defects = (await fs.readdir(testDir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: LabelledImage[] = [];
  for (const defect of defects) {
    const files = (await listFolderFiles(path.join(testDir, defect))).filter(isImageFileName);
    for (const file of files) {
      if (defect === 'good') {
        out.push({ file, defect, label: 0 });
        continue;
      }
      const stem = path.basename(file, path.extname(file));
      const mask = path.join(categoryDir, 'ground_truth', defect, `${stem}_mask.png`);
      out.push({ file, defect, label: 1, mask: (await exists(mask)) ? mask : undefined });
    }
  }
  if (!out.some((i) => i.label === 0)) throw new Error(`${testDir}: no good/ images; evaluation needs both good and defective images`);
  if (!out.some((i) => i.label === 1)) {
    const folders = defects.filter((d) => d !== 'good');
    const found = folders.length === 0 ? 'no defect folder beside good/' : `the defect folders (${folders.map((d) => `${d}/`).join(', ')}) hold no images`;
    throw new Error(`${testDir}: no defective images: ${found}; evaluation needs both good and defective images`);
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

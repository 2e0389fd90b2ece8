/**
 * The dashboard's built front end (Vite's output, `dist/dashboard-ui/`): `index.html` for every page
 * of the app and the hashed files under `assets/`, by exact name only — nothing the URL says becomes a
 * path beyond one plain file name.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** The package's root: the first folder above this module holding package.json (from src/ or dist/). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('the gantry package root was not found');
    dir = up;
  }
  return dir;
}

export const UI_ROOT = path.join(packageRoot(), 'dist', 'dashboard-ui');

export interface Asset {
  body: Buffer;
  type: string;
  /** Hashed names never change: cache them for a year. */
  immutable: boolean;
}

/** `index.html`, or `assets/<name>` when the name is a plain file name the build made. */
export async function readAsset(name: string): Promise<Asset | undefined> {
  let file: string;
  if (name === 'index.html') file = path.join(UI_ROOT, 'index.html');
  else {
    const m = /^assets\/([A-Za-z0-9_-][A-Za-z0-9._-]*)$/.exec(name);
    if (!m) return undefined;
    file = path.join(UI_ROOT, 'assets', m[1]!);
  }
  try {
    return {
      body: await fs.readFile(file),
      type:
        name === 'index.html' ? 'text/html; charset=utf-8' : (TYPES[path.extname(file)] ?? 'application/octet-stream'),
      immutable: name !== 'index.html',
    };
  } catch {
    return undefined;
  }
}

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/job.js";

/** ARCHITECTURE.md is read by whoever changes the code next: it must describe the tree as it is. */

const SRC = path.join(REPO_ROOT, "src");
const doc = readFileSync(path.join(REPO_ROOT, "ARCHITECTURE.md"), "utf8");
const layers = readdirSync(SRC).filter((name) => statSync(path.join(SRC, name)).isDirectory());

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : []));
}

/** The layers each layer imports, from its import statements (static and dynamic). */
function actualEdges(): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const layer of layers) {
    const imported = new Set<string>();
    for (const file of sourceFiles(path.join(SRC, layer))) {
      for (const m of readFileSync(file, "utf8").matchAll(/(?:from |import\()"(\.\.\/[^"]+)"/g)) {
        const target = path.relative(SRC, path.resolve(path.dirname(file), m[1] as string)).split(path.sep)[0] as string;
        if (target !== layer && layers.includes(target)) imported.add(target);
      }
    }
    edges.set(layer, imported);
  }
  return edges;
}

/** The "layer | imports" table: every layer named in a row's first cell imports what its second cell names. */
function documentedEdges(): Map<string, Set<string>> {
  const section = doc.slice(doc.indexOf("| layer | imports |"), doc.indexOf("| folder | owns | must not |"));
  const edges = new Map<string, Set<string>>();
  for (const row of section.split("\n").slice(2)) {
    const cells = row.split("|").map((c) => c.trim());
    if (cells.length < 3) continue;
    const names = (cell: string): string[] => [...cell.matchAll(/`([a-z]+)`/g)].map((m) => m[1] as string);
    for (const layer of names(cells[1] as string)) edges.set(layer, new Set(names(cells[2] as string)));
  }
  return edges;
}

describe("ARCHITECTURE.md matches the tree", () => {
  it("every source file it names exists", () => {
    const named = [...new Set([...doc.matchAll(/`([a-z0-9/-]+\.ts)`/g)].map((m) => m[1] as string))];
    expect(named.length).toBeGreaterThan(20);
    const files = sourceFiles(SRC).map((f) => path.relative(SRC, f));
    const missing = named.map((name) => name.replace(/^src\//, "")).filter((name) => !files.some((f) => f === name || f.endsWith(`/${name}`)));
    expect(missing).toEqual([]);
  });

  it("every folder of src/ has a row saying what it owns", () => {
    const owns = doc.slice(doc.indexOf("| folder | owns | must not |"));
    const rows = new Set([...owns.matchAll(/^\| `([a-z]+)` \|/gm)].map((m) => m[1] as string));
    expect(layers.filter((layer) => !rows.has(layer))).toEqual([]);
  });

  it("the layer table lists exactly the imports each layer makes", () => {
    const actual = actualEdges();
    const documented = documentedEdges();
    expect(documented.size).toBeGreaterThan(5);
    for (const layer of layers) {
      expect([...(documented.get(layer) ?? [])].sort(), `imports of ${layer}`).toEqual([...(actual.get(layer) ?? [])].sort());
    }
  });
});

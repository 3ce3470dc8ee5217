// Regenerates the TypeScript code into a scratch folder with the pinned generator (buf.gen.yaml) and
// fails when it differs from the committed src/gen, like `make proto-check` for the Python code.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "effectd-ts-gen-"));
const template = readFileSync(join(root, "buf.gen.yaml"), "utf8").replace("out: src/gen", `out: ${join(scratch, "gen")}`);
const templatePath = join(scratch, "buf.gen.yaml");
writeFileSync(templatePath, template);

function files(dir) {
  if (!statSync(dir, { throwIfNoEntry: false })) return [];
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(dir, path))
    .sort();
}

try {
  execFileSync(join(root, "node_modules", ".bin", "buf"), ["generate", "--template", templatePath], { cwd: root, stdio: "inherit" });
  const fresh = join(scratch, "gen");
  const committed = join(root, "src", "gen");
  const expected = files(fresh);
  const actual = files(committed);
  const stale = [...new Set([...expected, ...actual])].filter((name) => {
    if (!expected.includes(name) || !actual.includes(name)) return true;
    return readFileSync(join(fresh, name), "utf8") !== readFileSync(join(committed, name), "utf8");
  });
  if (stale.length > 0) {
    console.error(`src/gen is not what the generator writes from proto/ (run npm run generate): ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(`src/gen is current (${expected.length} files)`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

/** Runs test/python/peer.py (the Python SDK) and returns what it printed, parsed as JSON. */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseJson, type JsonValue } from "../../src/index.js";
import { PYTHON_BIN, REPO_ROOT } from "./server.js";

const run = promisify(execFile);
const PEER = join(REPO_ROOT, "clients", "typescript", "test", "python", "peer.py");

export async function python(...args: string[]): Promise<JsonValue> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EFFECTD_")));
  const { stdout } = await run(PYTHON_BIN, [PEER, ...args], { env, timeout: 90_000 });
  return parseJson(stdout.trim(), "peer.py output");
}

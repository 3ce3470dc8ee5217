/**
 * Starts a real effectd server for the tests: `$EFFECTD_BIN` or the repository's `.venv/bin/effectd`,
 * on 127.0.0.1:0 with a fresh SQLite file and any extra serve arguments (`--tokens-file F`, `--tls-cert
 * F --tls-key F`); the port comes from the "effectd listening on HOST:PORT" line the server writes to
 * stderr once it serves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** clients/typescript/dist/test/support → the repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..", "..");
export const EFFECTD_BIN = process.env["EFFECTD_BIN"] ?? join(REPO_ROOT, ".venv", "bin", "effectd");
export const PYTHON_BIN = process.env["EFFECTD_PYTHON"] ?? join(REPO_ROOT, ".venv", "bin", "python");
const READY_TIMEOUT_MS = 30_000;
const LISTENING = /effectd listening on (\S+)/;

export class EffectdServer {
  private constructor(
    readonly target: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly args: readonly string[],
    readonly log: () => string,
  ) {}

  /**
   * A new server, serving with the extra `args`; `restart` of an earlier one reuses its port and
   * database.
   */
  static async start(args: readonly string[] = [], restart?: { target: string; dir: string }): Promise<EffectdServer> {
    const dir = restart?.dir ?? mkdtempSync(join(tmpdir(), "effectd-ts-"));
    const listen = restart?.target ?? "127.0.0.1:0";
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EFFECTD_")));
    const child = spawn(EFFECTD_BIN, ["serve", "--listen", listen, "--db", join(dir, "effectd.db"), ...args], {
      cwd: dir,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let output = "";
    const log = (): string => output;
    const target = await new Promise<string>((resolveTarget, reject) => {
      const timer = setTimeout(() => reject(new Error(`effectd did not start in time:\n${output}`)), READY_TIMEOUT_MS);
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (chunk: string) => {
        output += chunk;
        const match = LISTENING.exec(output);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          resolveTarget(match[1]);
        }
      });
      child.on("error", (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${EFFECTD_BIN}: ${error.message} (make install, or set EFFECTD_BIN)`));
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`effectd exited with ${code} at start:\n${output}`));
      });
    });
    return new EffectdServer(target, child, dir, args, log);
  }

  /** SIGKILL: nothing is drained, clients see the connection drop. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolveExit) => this.child.once("exit", resolveExit));
    this.child.kill("SIGKILL");
    await exited;
  }

  /** Kill -9 and start again on the same port and database. */
  async restart(): Promise<EffectdServer> {
    await this.kill();
    return EffectdServer.start(this.args, { target: this.target, dir: this.dir });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

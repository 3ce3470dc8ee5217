/**
 * Tokens and certificates for the auth and TLS tests, made with the repository's tools: `effectd tokens
 * add` for bearer tokens, test/python/certs.py (trustme) for a CA, a server and a client certificate.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { EFFECTD_BIN, PYTHON_BIN, REPO_ROOT } from "./server.js";

const run = promisify(execFile);
const CERTS = join(REPO_ROOT, "clients", "typescript", "test", "python", "certs.py");

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("EFFECTD_")));
}

/** A scratch folder for a test file's secrets; `remove()` when done. */
export class SecretsDir {
  readonly path = mkdtempSync(join(tmpdir(), "effectd-ts-secrets-"));

  file(name: string): string {
    return join(this.path, name);
  }

  read(name: string): Buffer {
    return readFileSync(this.file(name));
  }

  /** Adds a token with `role` to the tokens file `name` (`effectd tokens add`) and returns the token. */
  async addToken(name: string, role: "runtime" | "resolver" | "worker" | "admin"): Promise<string> {
    const { stdout } = await run(EFFECTD_BIN, ["tokens", "add", "--role", role, "--tokens-file", this.file(name)], {
      env: cleanEnv(),
      timeout: 60_000,
    });
    return stdout.trim();
  }

  /** ca.pem, server.pem/.key (127.0.0.1, localhost), client.pem/.key and other-ca.pem (see certs.py). */
  async makeCertificates(): Promise<void> {
    await run(PYTHON_BIN, [CERTS, this.path], { env: cleanEnv(), timeout: 60_000 });
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

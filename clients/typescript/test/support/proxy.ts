/**
 * A TCP proxy in front of the server that can hold every byte of its open connections, both directions
 * (`pause`), and let them through later (`resume`): a client behind it sees links that went silent, not
 * ones that broke. Connections opened while paused flow.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class PausableProxy {
  private frozen = new Set<Socket>();
  private readonly held: Array<() => void> = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly target: string,
  ) {}

  static async start(upstream: string): Promise<PausableProxy> {
    const [host, port] = [upstream.slice(0, upstream.lastIndexOf(":")), Number(upstream.slice(upstream.lastIndexOf(":") + 1))];
    let proxy: PausableProxy | undefined;
    const server = createServer((downstream) => {
      const upstreamSocket = createConnection({ host, port });
      for (const socket of [downstream, upstreamSocket]) {
        proxy?.sockets.add(socket);
        socket.on("close", () => proxy?.sockets.delete(socket));
        socket.on("error", () => undefined);
        socket.on("close", () => {
          downstream.destroy();
          upstreamSocket.destroy();
        });
      }
      const forward = (to: Socket) => (chunk: Buffer) => {
        const send = (): void => void to.write(chunk);
        if (proxy?.frozen.has(to)) proxy.held.push(send);
        else send();
      };
      downstream.on("data", forward(upstreamSocket));
      upstreamSocket.on("data", forward(downstream));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy has no port");
    proxy = new PausableProxy(server, `127.0.0.1:${address.port}`);
    return proxy;
  }

  pause(): void {
    this.frozen = new Set(this.sockets);
  }

  resume(): void {
    this.frozen = new Set();
    for (const send of this.held.splice(0)) send();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

// End-to-end test of the generated TypeScript client: @connectrpc/connect-node
// over gRPC (HTTP/2) with mTLS, against a real jobmanager server. The Go test
// TestTypeScriptClient starts the server, compiles this file with tsc and
// runs it with `node --test`, passing the server's address and certificate
// directory in the environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  JobManagerService,
  JobState,
  OutputStream,
} from "../../gen/ts/jobmanager/v1/jobmanager_pb.js";

const addr = process.env.JOBMANAGER_ADDR;
const certDir = process.env.JOBMANAGER_CERT_DIR;
if (!addr || !certDir) {
  throw new Error("JOBMANAGER_ADDR and JOBMANAGER_CERT_DIR must be set");
}

function clientFor(user: string) {
  const transport = createGrpcTransport({
    baseUrl: `https://${addr}`,
    nodeOptions: {
      ca: readFileSync(join(certDir!, "ca.crt")),
      cert: readFileSync(join(certDir!, `${user}.crt`)),
      key: readFileSync(join(certDir!, `${user}.key`)),
      servername: "localhost",
      minVersion: "TLSv1.3",
    },
  });
  return createClient(JobManagerService, transport);
}

test("start, stream and query a job", async () => {
  const client = clientFor("client1");
  const started = await client.start({
    name: "ts-client",
    programPath: "/bin/sh",
    arguments: ["-c", "printf 'from typescript\\n'; exit 4"],
  });
  const id = started.job!.id;
  assert.match(id, /^[0-9a-f-]{36}$/);

  let output = "";
  let offset = 0n;
  for await (const chunk of client.streamOutput({
    jobId: id,
    outputStream: OutputStream.STDOUT,
  })) {
    assert.equal(chunk.offset, offset);
    output += Buffer.from(chunk.output).toString();
    offset += BigInt(chunk.output.length);
  }
  assert.equal(output, "from typescript\n");

  const { status } = await client.query({ jobId: id });
  assert.equal(status!.state, JobState.EXITED);
  assert.equal(status!.exitCode, 4);
  assert.equal(status!.isRunning, false);
  assert.equal(status!.owner, "client1");
});

test("another user's job is not found", async () => {
  const owner = clientFor("client1");
  const started = await owner.start({ name: "ts-private", programPath: "/bin/true" });
  await assert.rejects(
    clientFor("client2").query({ jobId: started.job!.id }),
    (err: unknown) => err instanceof ConnectError && err.code === Code.NotFound,
  );
  const { jobs } = await clientFor("administrator").list({});
  assert.ok(jobs.some((s) => s.job!.id === started.job!.id));
});

test("invalid requests get InvalidArgument", async () => {
  await assert.rejects(
    clientFor("client1").start({ name: "", programPath: "/bin/true" }),
    (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument,
  );
});

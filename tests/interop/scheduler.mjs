// Makes job schedulers with Node BullMQ, then prints what Node BullMQ lists on the queue.
// argv: redis URL, bullmq prefix, queue, JSON list of {id, repeat, name, data}.
import { Queue } from "bullmq";
import IORedis from "ioredis";

const [url, prefix, queueName, schedulersJson] = process.argv.slice(2);
const connection = new IORedis(url, { maxRetriesPerRequest: null });
const queue = new Queue(queueName, { connection, prefix });
for (const scheduler of JSON.parse(schedulersJson)) {
  await queue.upsertJobScheduler(scheduler.id, scheduler.repeat, { name: scheduler.name, data: scheduler.data });
}
const listed = await queue.getJobSchedulers(0, -1, true);
process.stdout.write(JSON.stringify(listed.map((s) => ({ key: s.key, next: s.next }))) + "\n");
await queue.close();
await connection.quit();

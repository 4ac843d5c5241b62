/** `typevisor image ...`: build images from recipes (with a progress bar), list, inspect, delete. */
import type { Command } from 'commander';
import { clientFrom, withConnectionOptions } from './client.js';
import { formatBytes, printJson, printTable } from './output.js';
import { requireSuccess, runTask, type TaskView } from './follow.js';

interface Image {
  name: string;
  recipe: string;
  status: string;
  disk: { pool: string; volume: string; virtualSizeBytes?: number; actualSizeBytes?: number };
  boot: { kernel: string; initrd?: string; cmdline?: string } | null;
  inputs: Record<string, unknown>;
  buildSeconds: number | null;
  createdAt: string;
  clones: number;
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('bootable images built from recipes (tiny, debian-12, debian-12-minimal)');

  withConnectionOptions(image.command('list').description('list images')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { images } = await api.call<{ images: Image[] }>('GET', '/api/v1/images');
    if (json) return printJson(images);
    printTable(
      ['NAME', 'RECIPE', 'STATUS', 'DISK', 'SIZE', 'USED', 'CLONES', 'BUILT IN'],
      images.map((i) => [
        i.name, i.recipe, i.status, `${i.disk.pool}/${i.disk.volume}`,
        i.disk.virtualSizeBytes ? formatBytes(i.disk.virtualSizeBytes) : null,
        i.disk.actualSizeBytes ? formatBytes(i.disk.actualSizeBytes) : null,
        i.clones, i.buildSeconds !== null ? `${i.buildSeconds.toFixed(0)} s` : null,
      ]),
    );
  });

  withConnectionOptions(image.command('recipes').description('recipes images can be built from')).action(async (_o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const { recipes } = await api.call<{ recipes: Array<{ name: string; description: string }> }>('GET', '/api/v1/images/recipes');
    if (json) return printJson(recipes);
    printTable(['RECIPE', 'DESCRIPTION'], recipes.map((r) => [r.name, r.description]));
  });

  withConnectionOptions(
    image
      .command('build <recipe>')
      .description('build an image (follows the build task with a progress bar)')
      .requiredOption('--name <name>', 'image name')
      .option('--no-wait', 'print the task and return at once'),
  ).action(async (recipe: string, o: { name: string; wait: boolean }, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const start = () => api.call<{ task: TaskView; image: Image }>('POST', '/api/v1/images', { name: o.name, recipe });
    if (!o.wait) {
      const r = await start();
      return json ? printJson(r) : void process.stdout.write(`building ${o.name}: task ${r.task.id}\n`);
    }
    const task = await runTask(api, start, { quiet: json });
    requireSuccess(task);
    const img = await api.call<Image>('GET', `/api/v1/images/${encodeURIComponent(o.name)}`);
    if (json) return printJson(img);
    process.stdout.write(`image ${img.name} ready (${img.recipe}, ${img.buildSeconds?.toFixed(0)} s)\n`);
  });

  withConnectionOptions(image.command('show <name>').description('inspect an image')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    const i = await api.call<Image>('GET', `/api/v1/images/${encodeURIComponent(name)}`);
    if (json) return printJson(i);
    printTable(['FIELD', 'VALUE'], [
      ['name', i.name], ['recipe', i.recipe], ['status', i.status], ['disk', `${i.disk.pool}/${i.disk.volume}`],
      ['kernel', i.boot?.kernel], ['initrd', i.boot?.initrd], ['cmdline', i.boot?.cmdline], ['clones', i.clones],
      ['inputs', JSON.stringify(i.inputs)], ['created', i.createdAt],
    ]);
  });

  withConnectionOptions(image.command('delete <name>').description('delete an image (refused while VMs use it)')).action(async (name: string, _o, cmd: Command) => {
    const { api, json } = clientFrom(cmd);
    await api.call('DELETE', `/api/v1/images/${encodeURIComponent(name)}`);
    if (json) return printJson({ deleted: name });
    process.stdout.write(`image ${name} deleted\n`);
  });
}

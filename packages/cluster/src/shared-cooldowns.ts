import type { RedisLink } from './redis-link.js';

/**
 * Endpoint cooldowns shared by replicas, shaped like @muai/engines-http's `SharedCooldowns`: reads
 * come from a local mirror (synchronous, as the endpoint pool needs), writes go to Redis as keys
 * with the cooldown as TTL plus a pub/sub message, so other replicas' mirrors learn at once. On
 * every (re)connect the mirror is reloaded from the keys. While Redis is down the mirror still
 * holds this replica's own reports.
 */
export class RedisSharedCooldowns {
  private readonly link: RedisLink;
  private readonly prefix: string;
  private readonly channel: string;
  private readonly now: () => number;
  private readonly mirror = new Map<string, number>();
  private subscriber: RedisLink['client'] | undefined;

  constructor(link: RedisLink, options: { keyPrefix?: string; now?: () => number } = {}) {
    this.link = link;
    this.prefix = options.keyPrefix ?? 'muai:';
    this.channel = `${this.prefix}cooldowns`;
    this.now = options.now ?? Date.now;
    this.subscribe();
    link.onReady(() => void this.reload());
    if (link.up) void this.reload();
  }

  private subscribe(): void {
    // A subscribed connection can run nothing else; it reconnects (and resubscribes) by itself.
    const subscriber = this.link.client.duplicate({ enableOfflineQueue: true });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => this.apply(message));
    void subscriber.subscribe(this.channel).catch(() => undefined);
    this.subscriber = subscriber;
  }

  private apply(message: string): void {
    const space = message.lastIndexOf(' ');
    if (space < 0) return;
    const url = message.slice(0, space);
    const until = Number(message.slice(space + 1));
    if (!Number.isFinite(until) || until <= this.now()) this.mirror.delete(url);
    else this.mirror.set(url, until);
  }

  private async reload(): Promise<void> {
    const keys = await this.link.run(async (client) => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${this.prefix}cooldown:*`, 'COUNT', 100);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
      return found;
    });
    if (!keys || keys.length === 0) return;
    const values = await this.link.run((client) => client.mget(...keys));
    if (!values) return;
    keys.forEach((key, index) => {
      const until = Number(values[index]);
      if (Number.isFinite(until) && until > this.now()) this.mirror.set(key.slice(`${this.prefix}cooldown:`.length), until);
    });
  }

  /** Epoch ms until which `url` is cooling down according to any replica; 0 when none. */
  cooledUntil(url: string): number {
    const until = this.mirror.get(url) ?? 0;
    if (until !== 0 && until <= this.now()) {
      this.mirror.delete(url);
      return 0;
    }
    return until;
  }

  /** Records and broadcasts that `url` is out until `untilMs`. Never throws; Redis work runs in the background. */
  report(url: string, untilMs: number): void {
    this.mirror.set(url, untilMs);
    const ttl = Math.max(1, Math.round(untilMs - this.now()));
    void this.link.run((client) => client.multi().set(`${this.prefix}cooldown:${url}`, String(untilMs), 'PX', ttl).publish(this.channel, `${url} ${untilMs}`).exec());
  }

  /** Records and broadcasts that `url` is back. Never throws. */
  clear(url: string): void {
    this.mirror.delete(url);
    void this.link.run((client) => client.multi().del(`${this.prefix}cooldown:${url}`).publish(this.channel, `${url} 0`).exec());
  }

  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    subscriber?.disconnect();
  }
}

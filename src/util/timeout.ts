/** Resolve to `p`'s value, or to null after `ms`, without the timer keeping the process alive. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

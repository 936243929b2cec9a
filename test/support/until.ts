type Met<T> = Exclude<T, undefined | null | false | "">;

/**
 * Polls `check` until it returns a value other than undefined, null, false or "", and returns that.
 * Checks every 5 ms at first and backs off to every 25 ms, so a quick condition is seen at once and
 * a long wait does not load the server it polls. Fails with "<what> not met within <timeoutMs> ms";
 * an error thrown by `check` fails at once. A check returns a boolean, a string or an object, never
 * a number, so that 0 cannot be mistaken for a result.
 */
export async function until<T extends object | string | boolean | null | undefined>(
  check: () => T | Promise<T>,
  timeoutMs = 5_000,
  what = "condition",
): Promise<Met<T>> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 25)) {
    const value: T = await check();
    if (value !== undefined && value !== null && value !== false && value !== "") return value as Met<T>;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

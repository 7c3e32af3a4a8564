/** Component tests wait for a render in one of two ways, copied into many files before; these are those two, once. */

/** Waits until `check` stops throwing (a lazily loaded module, a slow render): 50 tries 100 ms apart, then its error. */
export async function until(check: () => void): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      check();
      return;
    } catch (error) {
      if (i >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Waits until `check` is true, looking every 20 ms; after 5 s fails with "timed out waiting for `what`". */
export async function untilTrue(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

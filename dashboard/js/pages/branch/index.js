// branch pages: filled in by their owner (issue 13); the shell imports this list.
export const routes = [];

// Values the page and the images worker share. Types come from the worker module with `import
// type`; values must live here, or the page would bundle the worker's code.

/** The platform value that pulls and exports every platform of an index. */
export const allPlatforms = 'all';

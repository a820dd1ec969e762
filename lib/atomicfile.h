#ifndef LIB_ATOMICFILE_H
#define LIB_ATOMICFILE_H
#include <stddef.h>
#include <sys/types.h>

/* Crash-safe whole-file replacement (STYLE.md §8: the console rewrites config files this way).
 *
 * atomicfile_write() writes data to a fresh temporary file in path's directory, named
 * ".<name>.<random>.tmp" and created with O_CREAT|O_EXCL (mode 0600 until fchmod to mode), writes
 * all len bytes, fsyncs it, renames it over path and fsyncs the directory. Afterwards path holds
 * either its old content or the new one, never a mix, even after a crash; once it returns 0 the
 * new content is durable. The file gets exactly mode (the umask does not apply) and the caller's
 * uid and gid. A symlink at path is replaced by the file, not followed.
 *
 * Returns 0, or -1 with *error_r set to a static description of the step that failed ("create
 * temporary file", "write", "fsync", "rename", "fsync directory", ...) and errno from that step
 * preserved. On failure the temporary file is removed and path is untouched, except after a
 * failed directory fsync, where the rename has happened but may not be durable.
 * Thread-safe; blocking (use from a worker thread or a process that may block). */
int atomicfile_write(const char *path, const void *data, size_t len, mode_t mode,
    const char **error_r);

/* fsyncs the directory that contains path ("." when path has no slash), making a create, rename
 * or unlink of path durable. Returns 0, or -1 with *error_r set and errno preserved. */
int atomicfile_fsync_dir(const char *path, const char **error_r);

#endif

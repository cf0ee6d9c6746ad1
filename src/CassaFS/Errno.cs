namespace CassaFS;

/// <summary>POSIX error numbers as Linux defines them (the FUSE face returns them negated).</summary>
public enum Errno
{
    /// <summary>No error (a result, never thrown).</summary>
    Success = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    EBADF = 9,
    EAGAIN = 11,
    EACCES = 13,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    EFBIG = 27,
    ENOSPC = 28,
    EROFS = 30,
    EMLINK = 31,
    ERANGE = 34,
    ENAMETOOLONG = 36,
    ENOLCK = 37,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENODATA = 61,
    EOPNOTSUPP = 95,
    ETIMEDOUT = 110,
    ESTALE = 116,
}

/// <summary>The filesystem's one error: an errno and what it concerns. Every face maps it (FUSE: -errno; PowerShell: an ErrorRecord; CLI: a message and exit code).</summary>
public sealed class FileSystemException : Exception
{
    public FileSystemException(Errno errno, string subject, string? detail = null, Exception? inner = null)
        : base(Describe(errno, subject, detail), inner)
    {
        Errno = errno;
        Subject = subject;
        Detail = detail;
    }

    public Errno Errno { get; }

    /// <summary>What was said beyond the errno ("the directory has children; ..."), null when nothing.</summary>
    public string? Detail { get; }

    /// <summary>The path, name or inode the error is about.</summary>
    public string Subject { get; }

    private static string Describe(Errno errno, string subject, string? detail)
    {
        var text = errno switch
        {
            Errno.EPERM => "Operation not permitted",
            Errno.ENOENT => "No such file or directory",
            Errno.EINTR => "Interrupted system call",
            Errno.EIO => "Input/output error",
            Errno.EBADF => "Bad file handle",
            Errno.EAGAIN => "Resource temporarily unavailable",
            Errno.EACCES => "Permission denied",
            Errno.EBUSY => "Device or resource busy",
            Errno.EEXIST => "File exists",
            Errno.EXDEV => "Invalid cross-device link",
            Errno.ENOTDIR => "Not a directory",
            Errno.EISDIR => "Is a directory",
            Errno.EINVAL => "Invalid argument",
            Errno.EFBIG => "File too large",
            Errno.ENOSPC => "No space left on device",
            Errno.EROFS => "Read-only file system",
            Errno.EMLINK => "Too many links",
            Errno.ERANGE => "Result too large",
            Errno.ENAMETOOLONG => "File name too long",
            Errno.ENOLCK => "No locks available",
            Errno.ENOSYS => "Function not implemented",
            Errno.ENOTEMPTY => "Directory not empty",
            Errno.ELOOP => "Too many levels of symbolic links",
            Errno.ENODATA => "No such attribute",
            Errno.EOPNOTSUPP => "Operation not supported",
            Errno.ETIMEDOUT => "Timed out",
            Errno.ESTALE => "Stale file handle",
            _ => errno.ToString(),
        };
        return detail is null ? $"{subject}: {text} ({errno})" : $"{subject}: {text} ({errno}): {detail}";
    }
}

namespace CassaFS.Fuse;

/// <summary>Linux errno values (identical on x86-64 and arm64) a filesystem answers the kernel with; a negated value ((Errno)(-2)) means the same.</summary>
public enum Errno
{
    /// <summary>No error: the operation succeeded.</summary>
    Success = 0,
    EPERM = 1,
    ENOENT = 2,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    EBADF = 9,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    ERANGE = 34,
    EDEADLK = 35,
    ENAMETOOLONG = 36,
    ENOLCK = 37,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    ENODATA = 61,
    /// <summary>Illegal byte sequence: a name that is not valid UTF-8.</summary>
    EILSEQ = 84,
    EOPNOTSUPP = 95,
    ENOTCONN = 107,
    ETIMEDOUT = 110,
    ESTALE = 116,
    EDQUOT = 122,
    ECANCELED = 125,
}

/// <summary>Thrown by a filesystem handler to answer the kernel with an errno; the binding replies with that errno.</summary>
public class FuseException : Exception
{
    public FuseException(Errno errno) : this(errno, $"The filesystem answered {errno}.") { }

    public FuseException(Errno errno, string message) : base(message) => Errno = errno;

    public FuseException(Errno errno, string message, Exception inner) : base(message, inner) => Errno = errno;

    public FuseException() : this(Errno.EIO) { }

    public FuseException(string message) : this(Errno.EIO, message) { }

    public FuseException(string message, Exception innerException) : this(Errno.EIO, message, innerException) { }

    /// <summary>The errno the kernel will see.</summary>
    public Errno Errno { get; }
}

/// <summary>Thrown when a mount cannot be set up or torn down; the message says what libfuse or the kernel reported.</summary>
public class FuseMountException : Exception
{
    public FuseMountException(string mountPoint, string message) : base(message) => MountPoint = mountPoint;

    public FuseMountException(string mountPoint, string message, Exception inner) : base(message, inner) => MountPoint = mountPoint;

    public FuseMountException() : this(string.Empty, "The FUSE mount failed.") { }

    public FuseMountException(string message) : this(string.Empty, message) { }

    public FuseMountException(string message, Exception innerException) : this(string.Empty, message, innerException) { }

    /// <summary>The directory the mount was for.</summary>
    public string MountPoint { get; }
}

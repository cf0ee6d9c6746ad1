using CassaFS.Cql;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>
/// Which provider verb failed: the FileSystem provider gives the same errno different error ids by verb
/// (EEXIST is MoveFileInfoItemIOError for Move-Item, RenameItemIOError for Rename-Item, SymLinkExists for New-Item
/// -ItemType SymbolicLink), and scripts written for the local disk catch those ids.
/// </summary>
public enum ErrorContext
{
    None,
    NewFile,
    NewDirectory,
    NewLink,
    Rename,
    Move,
    Copy,
}

/// <summary>The <see cref="ErrorContext"/> of New-Item for an item kind.</summary>
public static class ErrorContexts
{
    public static ErrorContext For(ItemKind? kind) => kind switch
    {
        ItemKind.Directory => ErrorContext.NewDirectory,
        ItemKind.SymbolicLink or ItemKind.HardLink => ErrorContext.NewLink,
        ItemKind.File => ErrorContext.NewFile,
        _ => ErrorContext.None,
    };
}

/// <summary>How an exception is reported in PowerShell: the ErrorRecord's id and category (names as System.Management.Automation.ErrorCategory has them).</summary>
public sealed record Failure(string ErrorId, string Category, string Message, string? Target)
{
    /// <summary>Classifies an exception from the logic classes.</summary>
    public static Failure Of(Exception exception, string? target = null, ErrorContext context = ErrorContext.None)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var e = exception is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException! : exception;
        if (e is FileSystemException { } known && AsFileSystemProvider(known.Errno, context) is var (id, category))
            return new Failure(id, category, known.Message, target ?? known.Subject);
        return e switch
        {
            FileSystemException fse => new Failure(ErrorIdOf(fse.Errno), CategoryOf(fse.Errno), fse.Message, target ?? fse.Subject),
            ItemLockedException locked => new Failure("ItemLocked", "ResourceBusy", locked.Message, target ?? locked.Path),
            LockTimeoutException timeout => new Failure("LockTimeout", "ResourceBusy", timeout.Message, target ?? timeout.Key.Value),
            LockLostException lost => new Failure("LockLost", "ResourceUnavailable", lost.Message, target ?? lost.Key.Value),
            CassaConnectionException conn => new Failure("ServerUnreachable", "ConnectionError", conn.Message, target ?? conn.Server),
            CqlException cql => new Failure("CassandraError", "ConnectionError", cql.Message + " (the outcome of a change may be unknown: check the item before retrying)", target),
            MountException mount => new Failure("MountFailed", "InvalidOperation", mount.Message, target ?? mount.MountPoint),
            UnauthorizedAccessException => new Failure("PermissionDenied", "PermissionDenied", e.Message, target),
            FileNotFoundException or DirectoryNotFoundException => new Failure("ItemNotFound", "ObjectNotFound", e.Message, target),
            ArgumentException arg => new Failure("Argument", "InvalidArgument", arg.Message, target),
            OperationCanceledException => new Failure("Cancelled", "OperationStopped", e.Message, target),
            TimeoutException => new Failure("Timeout", "OperationTimeout", e.Message, target),
            _ => new Failure(e.GetType().Name, "NotSpecified", e.Message, target),
        };
    }

    /// <summary>The FileSystem provider's id and category for the same mistake made with the same verb, where it has one.</summary>
    private static (string Id, string Category)? AsFileSystemProvider(Errno errno, ErrorContext context) => (context, errno) switch
    {
        (ErrorContext.Move, Errno.EEXIST or Errno.ENOTEMPTY or Errno.EISDIR or Errno.ENOTDIR) => ("MoveFileInfoItemIOError", "WriteError"),
        (ErrorContext.Move, Errno.EINVAL) => ("MoveItemArgumentError", "InvalidArgument"),
        (ErrorContext.Rename, Errno.EEXIST or Errno.ENOTEMPTY or Errno.EISDIR or Errno.ENOTDIR) => ("RenameItemIOError", "WriteError"),
        (ErrorContext.NewLink, Errno.EEXIST) => ("SymLinkExists", "ResourceExists"),
        (ErrorContext.NewDirectory, Errno.EEXIST) => ("DirectoryExist", "ResourceExists"),
        (ErrorContext.NewFile, Errno.EEXIST or Errno.ENOENT) => ("NewItemIOError", "WriteError"),
        (ErrorContext.NewDirectory, Errno.ENOENT or Errno.ENOTDIR) => ("CreateDirectoryIOError", "WriteError"),
        (ErrorContext.Copy, Errno.EINVAL) => ("CopyFileInfoItemIOError", "WriteError"),
        _ => null,
    };

    private static string ErrorIdOf(Errno errno) => errno switch
    {
        Errno.ENOENT => "ItemNotFound",
        Errno.EEXIST => "ItemExists",
        Errno.EACCES or Errno.EPERM => "PermissionDenied",
        Errno.ENOTEMPTY => "DirectoryNotEmpty",
        Errno.EAGAIN or Errno.EBUSY => "ItemBusy",
        _ => errno.ToString(),
    };

    private static string CategoryOf(Errno errno) => errno switch
    {
        Errno.ENOENT => "ObjectNotFound",
        Errno.EEXIST => "ResourceExists",
        Errno.EACCES or Errno.EPERM or Errno.EROFS => "PermissionDenied",
        Errno.EAGAIN or Errno.EBUSY or Errno.ENOTEMPTY => "ResourceBusy",
        Errno.EINVAL or Errno.ENAMETOOLONG or Errno.ENOTDIR or Errno.EISDIR or Errno.ELOOP or Errno.EXDEV => "InvalidArgument",
        Errno.ENOSPC or Errno.EFBIG or Errno.EMLINK => "LimitsExceeded",
        Errno.ETIMEDOUT => "OperationTimeout",
        Errno.ENOSYS or Errno.EOPNOTSUPP => "NotImplemented",
        Errno.ESTALE => "ResourceUnavailable",
        _ => "WriteError",
    };
}

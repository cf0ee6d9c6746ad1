using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>
/// The applications' lock on a file (<see cref="LockKey.ForAdvisory"/>): the key a FUSE mount's flock takes, so a
/// PowerShell writer and a flock on a mount exclude each other. Never the inode key, which the filesystem takes itself.
/// </summary>
public static class FileLock
{
    /// <summary>Waits for the file's lock; a timeout becomes <see cref="ItemLockedException"/> naming the holder.</summary>
    public static async Task<ILockHandle> AcquireAsync(CassaDriveSession drive, Guid inode, string path, LockMode mode, string purpose, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(drive);
        if (drive.OwnLocks.TryGetValue(LockKey.ForAdvisory(inode), out var own) && own.State is LockState.Held or LockState.Suspended && (own.Mode == LockMode.Write || mode == LockMode.Read))
            return new BorrowedLock(own);
        try
        {
            return await drive.FileLocks.AcquireAsync(inode, mode, purpose, path, timeout ?? drive.Parameters.LockTimeout, ct).ConfigureAwait(false);
        }
        catch (LockTimeoutException e)
        {
            throw new ItemLockedException(path, e);
        }
    }
}

/// <summary>A lock the session already holds (Lock-CassaItem), lent to one operation: releasing it leaves it held.</summary>
internal sealed class BorrowedLock(ILockHandle owner) : ILockHandle
{
    public LockKey Key => owner.Key;
    public LockMode Mode => owner.Mode;
    public long FencingToken => owner.FencingToken;
    public LockHolder Holder => owner.Holder;
    public LockState State => owner.State;
    public CancellationToken LostToken => owner.LostToken;

    public event EventHandler<LockState>? StateChanged
    {
        add => owner.StateChanged += value;
        remove => owner.StateChanged -= value;
    }

    public ValueTask ReleaseAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

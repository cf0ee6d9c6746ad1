using System.Runtime.CompilerServices;
using CassaFS.Locks;

namespace CassaFS.PowerShell;

/// <summary>A lock as Get-CassaLock shows it: the file (when known), the key, its holders and waiters.</summary>
public sealed record LockView(string? Path, string Key, IReadOnlyList<LockParticipant> Holders, IReadOnlyList<LockParticipant> Waiters)
{
    /// <summary>Write when a writer holds it, Read when readers do, null when free.</summary>
    public LockMode? Mode => Holders.Count == 0 ? null : Holders.Any(h => h.Mode == LockMode.Write) ? LockMode.Write : LockMode.Read;

    /// <summary>The holders as text ("alice@host (purpose), pid N, since ...").</summary>
    public string HeldBy => string.Join("; ", Holders.Select(h => h.Holder.ToString()));

    public int WaiterCount => Waiters.Count;
}

/// <summary>A lock Lock-CassaItem took: keep it, pass it to Unlock-CassaItem (or dispose it) to release.</summary>
public sealed class CassaLockHandle : IAsyncDisposable
{
    private readonly Action _forget;

    internal CassaLockHandle(string path, ILockHandle handle, Action forget)
    {
        Path = path;
        Handle = handle;
        _forget = forget;
    }

    public string Path { get; }
    public ILockHandle Handle { get; }
    public string Key => Handle.Key.Value;
    public LockMode Mode => Handle.Mode;
    public long FencingToken => Handle.FencingToken;
    public LockHolder Holder => Handle.Holder;
    public LockState State => Handle.State;

    public ValueTask DisposeAsync() => ReleaseAsync(CancellationToken.None);

    /// <summary>Releases the lock (releasing twice is harmless).</summary>
    public ValueTask ReleaseAsync(CancellationToken ct)
    {
        _forget();
        return Handle.ReleaseAsync(ct);
    }

    public override string ToString() => $"{Mode} lock on {Path} ({State}, token {FencingToken})";
}

/// <summary>The lock cmdlets' logic: Get-CassaLock, Lock-CassaItem, Unlock-CassaItem, Remove-CassaLock, on the files' advisory locks.</summary>
public sealed class LockCommands
{
    private readonly CassaDriveSession _drive;

    public LockCommands(CassaDriveSession drive) => _drive = drive ?? throw new ArgumentNullException(nameof(drive));

    private async Task<(string Full, Guid Inode)> FileAsync(string path, CancellationToken ct)
    {
        var full = _drive.Resolve(path);
        var inode = await _drive.FileSystem.ResolveAsync(full, _drive.Caller, true, ct).ConfigureAwait(false);
        return (full, inode.Id);
    }

    /// <summary>The lock of the file at a path: holders and waiters (empty lists when free).</summary>
    public async Task<LockView> GetAsync(string path, CancellationToken ct = default)
    {
        var (full, inode) = await FileAsync(path, ct).ConfigureAwait(false);
        var info = await _drive.FileLocks.InspectAsync(inode, ct).ConfigureAwait(false);
        return new LockView(ProviderPath.OnDrive(_drive.DriveName, _drive.Root, full), info.Key.Value, info.Holders, info.Waiters);
    }

    /// <summary>Every file lock held or waited for (whole-file and byte ranges); with <paramref name="everyKey"/>, every lock of the lock service.</summary>
    public async IAsyncEnumerable<LockView> ListAsync(bool everyKey = false, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var all = everyKey ? _drive.Locks.ListAsync(null, ct) : _drive.FileLocks.ListAsync(ct);
        await foreach (var info in all.ConfigureAwait(false))
        {
            if (info.Holders.Count == 0 && info.Waiters.Count == 0) continue;
            // The path its taker named (PowerShell names it; a mount's flock knows only the inode), on this drive.
            var subject = info.Holders.Concat(info.Waiters).Select(h => h.Holder.Subject).FirstOrDefault(p => p is not null);
            yield return new LockView(subject is null ? null : ProviderPath.OnDrive(_drive.DriveName, _drive.Root, subject), info.Key.Value, info.Holders, info.Waiters);
        }
    }

    /// <summary>Lock-CassaItem: waits up to <paramref name="timeout"/> (null: the drive's lock timeout) for the file's lock.</summary>
    /// <exception cref="ItemLockedException">Another client held it past the timeout; names the holder.</exception>
    public async Task<CassaLockHandle> LockAsync(string path, LockMode mode, TimeSpan? timeout = null, string? purpose = null, CancellationToken ct = default)
    {
        var (full, inode) = await FileAsync(path, ct).ConfigureAwait(false);
        var key = LockKey.ForAdvisory(inode);
        if (_drive.OwnLocks.ContainsKey(key))
            throw new FileSystemException(Errno.EBUSY, full, "this session already holds the file's lock; release it with Unlock-CassaItem first (locks are not reentrant)");
        ILockHandle handle;
        try
        {
            handle = await _drive.Locks.AcquireAsync(new LockRequest(key, mode) { Purpose = purpose ?? $"Lock-CassaItem {full}", Subject = full, Timeout = timeout ?? _drive.Parameters.LockTimeout }, ct).ConfigureAwait(false);
        }
        catch (LockTimeoutException e)
        {
            throw new ItemLockedException(full, e);
        }
        _drive.OwnLocks[key] = handle;
        return new CassaLockHandle(full, handle, () => _drive.OwnLocks.TryRemove(key, out _));
    }

    /// <summary>Unlock-CassaItem: releases a handle (releasing twice is harmless).</summary>
    public static ValueTask UnlockAsync(CassaLockHandle handle, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(handle);
        return handle.ReleaseAsync(ct);
    }

    /// <summary>
    /// Remove-CassaLock: an operator breaks the file's lock (all holders, or the one with <paramref name="participantId"/>);
    /// the reason is recorded where the lock service keeps one. Returns the participants broken.
    /// </summary>
    public async Task<IReadOnlyList<LockParticipant>> BreakAsync(string path, string reason, string? participantId = null, CancellationToken ct = default)
    {
        var (_, inode) = await FileAsync(path, ct).ConfigureAwait(false);
        return await _drive.FileLocks.BreakAsync(inode, reason, participantId, ct).ConfigureAwait(false);
    }

    /// <summary>Breaks a lock by its key (as Get-CassaLock lists it).</summary>
    public Task<IReadOnlyList<LockParticipant>> BreakKeyAsync(LockKey key, string reason, string? participantId = null, CancellationToken ct = default) =>
        _drive.FileLocks.BreakAsync(key, reason, participantId, ct);
}

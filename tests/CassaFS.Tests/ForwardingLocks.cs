using CassaFS.Locks;

namespace CassaFS.Tests;

/// <summary>A lock provider that passes everything to a real one: tests override the call they watch or bend.</summary>
internal class ForwardingLockProvider(ILockProvider inner) : ILockProvider
{
    protected ILockProvider Inner => inner;

    public string Name => inner.Name;

    public virtual ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default) => inner.AcquireAsync(request, ct);

    public IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, CancellationToken ct = default) => inner.ListAsync(keyPrefix, ct);

    public ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default) => inner.InspectAsync(key, ct);

    public ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default) =>
        inner.BreakAsync(key, participantId, reason, ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>A lock handle that passes everything to a real one, for the same purpose.</summary>
internal class ForwardingLockHandle(ILockHandle real) : ILockHandle
{
    public LockKey Key => real.Key;
    public LockMode Mode => real.Mode;
    public long FencingToken => real.FencingToken;
    public LockHolder Holder => real.Holder;
    public virtual LockState State => real.State;
    public virtual CancellationToken LostToken => real.LostToken;
    public virtual CancellationToken ContendedToken => real.ContendedToken;

    public virtual event EventHandler<LockState>? StateChanged
    {
        add => real.StateChanged += value;
        remove => real.StateChanged -= value;
    }

    public virtual ValueTask ReleaseAsync(CancellationToken ct = default) => real.ReleaseAsync(ct);

    public ValueTask DisposeAsync() => LetGoAsync();

    /// <summary>What disposing does: the real handle's release.</summary>
    protected virtual ValueTask LetGoAsync() => real.DisposeAsync();
}

using System.Buffers;

namespace CassaFS.Fuse;

/// <summary>
/// The bytes of one FUSE write, copied out of libfuse's receive buffer (which it reuses once the callback returns)
/// into a pooled array. Whoever holds it owns it: <see cref="FuseFileSystem.WriteOwnedAsync"/> is handed it and
/// disposes it when done, so a filesystem may keep the array (a whole block, say) instead of copying it again.
/// </summary>
public sealed class FuseWriteBuffer : IMemoryOwner<byte>
{
    private byte[]? _array;
    private readonly int _length;

    internal unsafe FuseWriteBuffer(byte* data, int length)
    {
        _array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        _length = length;
        new ReadOnlySpan<byte>(data, length).CopyTo(_array);
    }

    /// <summary>The written bytes: exactly the write's length, starting at index 0 of a pooled array.</summary>
    public Memory<byte> Memory => (_array ?? throw new ObjectDisposedException(nameof(FuseWriteBuffer))).AsMemory(0, _length);

    /// <summary>Gives the array back to the pool; later calls do nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array) ArrayPool<byte>.Shared.Return(array);
    }
}

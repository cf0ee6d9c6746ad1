using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CassaFS.LocalServers;

/// <summary>The readiness checks: a CQL OPTIONS answered with SUPPORTED, a ZooKeeper <c>srvr</c> that reports a mode.</summary>
public static class Probes
{
    /// <summary>True when a CQL native-protocol OPTIONS request (v3 framing) gets a SUPPORTED reply.</summary>
    public static async Task<bool> CqlAnswersAsync(IPEndPoint endpoint, CancellationToken ct = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            // v3 request header: version, flags, stream id (2 bytes), opcode OPTIONS (0x05), body length 0.
            await stream.WriteAsync(new byte[] { 0x03, 0x00, 0x00, 0x01, 0x05, 0, 0, 0, 0 }, timeout.Token).ConfigureAwait(false);
            var header = new byte[9];
            await stream.ReadExactlyAsync(header, timeout.Token).ConfigureAwait(false);
            var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5));
            if (length > 0) await stream.ReadExactlyAsync(new byte[length], timeout.Token).ConfigureAwait(false);
            return header[0] == 0x83 && header[4] == 0x06;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>ZooKeeper's <c>Mode:</c> line from the <c>srvr</c> four-letter word (standalone, leader, follower), or null.</summary>
    public static async Task<string?> ZooKeeperModeAsync(IPEndPoint endpoint, CancellationToken ct = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient();
            await client.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("srvr"u8.ToArray(), timeout.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            var text = await reader.ReadToEndAsync(timeout.Token).ConfigureAwait(false);
            var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("Mode:", StringComparison.Ordinal));
            return line?["Mode:".Length..].Trim();
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace CassaFS.LocalServers;

/// <summary>Chooses TCP ports that are free on every loopback address a server group will bind.</summary>
public static class Loopback
{
    private static readonly object Gate = new();
    private static readonly HashSet<int> Handed = new();

    /// <summary>The address of the n-th local node (1-based): 127.0.0.1, 127.0.0.2, ...</summary>
    public static IPAddress Node(int n) => new(new byte[] { 127, 0, 0, (byte)n });

    /// <summary>Ports free on all the given addresses, never handed out twice by this process.</summary>
    public static int[] FreePorts(int count, params IPAddress[] addresses)
    {
        if (addresses.Length == 0) addresses = new[] { IPAddress.Loopback };
        var result = new List<int>(count);
        lock (Gate)
        {
            for (var attempt = 0; result.Count < count; attempt++)
            {
                if (attempt > 1000) throw new LocalServersException("Could not find free loopback ports; is the machine out of ports?");
                int port;
                using (var probe = new TcpListener(addresses[0], 0))
                {
                    probe.Start();
                    port = ((IPEndPoint)probe.LocalEndpoint).Port;
                }
                if (port < 10000 || Handed.Contains(port) || !addresses.All(a => IsFree(a, port))) continue;
                Handed.Add(port);
                result.Add(port);
            }
        }
        return result.ToArray();
    }

    /// <summary>
    /// True when nothing listens on the address and port. .NET binds TCP sockets with SO_REUSEADDR on Linux, so
    /// connections of an earlier server lingering in TIME_WAIT do not count; only a listener (or a bound socket) does.
    /// </summary>
    internal static bool IsFree(IPAddress address, int port)
    {
        try
        {
            using var l = new TcpListener(address, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

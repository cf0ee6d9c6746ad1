using Microsoft.Extensions.Logging;

namespace CassaFS.Cql.Protocol;

/// <summary>
/// Opens a ready connection to one host: negotiates the protocol version (v4, then v3 the first time a host is
/// seen), runs OPTIONS and STARTUP, logs in with PLAIN when the server asks for it, and switches to the session's
/// keyspace. The password goes into the AUTH_RESPONSE frame only; it is never logged and no message holds it.
/// </summary>
internal static class Handshake
{
    public static async Task<Connection> OpenAsync(Host host, CqlSessionOptions options, ConnectionSettings settings, CancellationToken ct)
    {
        var versions = host.ProtocolVersion is { } known ? new[] { known } : options.MaxProtocolVersion == 4 ? new byte[] { 4, 3 } : new byte[] { 3 };
        for (var i = 0; ; i++)
        {
            var connection = await Connection.OpenAsync(host.Endpoint, versions[i], options.ConnectTimeout, options.Tls, settings, ct).ConfigureAwait(false);
            try
            {
                await StartupAsync(connection, options, settings.Logger, ct).ConfigureAwait(false);
                host.ProtocolVersion = versions[i];
                CqlLog.ConnectionOpened(settings.Logger, host.Name, versions[i]);
                return connection;
            }
            catch (CqlException e) when (i + 1 < versions.Length && e is CqlProtocolException or CqlConnectionException)
            {
                // The server refused this version (Cassandra 2.1 answers v4 with a protocol error): try the next lower one.
                CqlLog.ProtocolRefused(settings.Logger, host.Name, versions[i], versions[i + 1]);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    private static async Task StartupAsync(Connection connection, CqlSessionOptions options, ILogger logger, CancellationToken ct)
    {
        // OPTIONS first: a server that refuses this protocol version says so here, and SUPPORTED names the CQL version.
        var supported = await connection.SendAsync(Requests.Options(), options.ConnectTimeout, ct).ConfigureAwait(false);
        if (supported.Opcode == Opcode.Error) throw Responses.ReadError(supported, connection.Host);
        if (supported.Opcode != Opcode.Supported) throw new CqlProtocolException($"unexpected answer 0x{supported.Opcode:x2} to OPTIONS", connection.Host);
        var offered = new FrameReader(supported.Body, 0, supported.Length).ReadStringMultimap();
        var cqlVersion = offered.TryGetValue("CQL_VERSION", out var versions) && versions.Count > 0 ? versions.Max(StringComparer.Ordinal)! : "3.0.0";
        var reply = await connection.SendAsync(Requests.Startup(cqlVersion), options.ConnectTimeout, ct).ConfigureAwait(false);
        if (reply.Opcode == Opcode.Authenticate)
        {
            var authenticator = new FrameReader(reply.Body, 0, reply.Length).ReadString();
            var credentials = options.Credentials
                ?? throw new CqlAuthenticationException($"the server requires authentication ({authenticator}); set CqlSessionOptions.Credentials", connection.Host);
            CqlLog.LoggingIn(logger, connection.Host, credentials.UserName, authenticator);
            reply = await connection.SendAsync(Requests.PlainAuthResponse(credentials), options.ConnectTimeout, ct).ConfigureAwait(false);
            if (reply.Opcode == Opcode.Error) throw Responses.ReadError(reply, connection.Host);
            if (reply.Opcode != Opcode.AuthSuccess)
                throw new CqlAuthenticationException($"the server answered the PLAIN login with opcode 0x{reply.Opcode:x2}; only PasswordAuthenticator-style logins are supported", connection.Host);
        }
        else if (reply.Opcode == Opcode.Error)
        {
            throw Responses.ReadError(reply, connection.Host);
        }
        else if (reply.Opcode != Opcode.Ready)
        {
            throw new CqlProtocolException($"unexpected answer 0x{reply.Opcode:x2} to STARTUP", connection.Host);
        }
        if (options.Keyspace is { } keyspace)
            Responses.ReadResult(await connection.SendAsync(Requests.UseKeyspace(keyspace), options.ConnectTimeout, ct).ConfigureAwait(false), connection.Host);
    }
}

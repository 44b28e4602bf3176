-- How a LAN's network meets the host's: NULL for a bridge, else the DMZ's host link as
-- JSON (`decnet_domain::attachment::Attachment`: mode, interface, gateway, ip_range).
ALTER TABLE lans ADD COLUMN attachment TEXT;

"""Transfer scripts (blind and attended), written for any bridged pair of a live call.

Letters: ``T`` the transferer (bridged with ``X`` in bridge ``%t``), ``X`` the transferee, ``Y`` the
transfer target's phone, ``K`` the transferer's consultation channel (attended, bridge ``%k``); ``%y`` the
bridge of a blind-transferred call. Parameters: ``xfer_exten``/``xfer_name``/``xfer_queue`` (the target
phone, its caller name, the queue it is a member of), ``xfer_context``, ``did``/``userfield``,
``xfer_external`` (AttendedTransfer's IsExternal).

The blind-transfer target dial follows sip_10 (after the REFER: Dial(PJSIP/102,20,t), 102 answers after
3 s and hangs up after 5 s), its failures follow sip_02/sip_03 (486 Busy Here, the Dial timeout). No capture
shows an attended transfer: ``atxfer.*`` follow the Asterisk documentation of the events
(main/stasis_bridges.c ``attended_transfer_to_ami``, the Hold/Unhold and MusicOnHold events) and
bridge_basic.c/bridge.c's order: the transferer holds (Hold on its channel, MusicOnHoldStart on the held
party), its phone places the consultation call with a new Linkedid (as sip_08), then on completion the
held party is taken off hold, the consultation bridge is merged into the original one (the target leaves
it and enters the original bridge, both transferer channels are kicked), AttendedTransfer is published
with the snapshots taken before the merge (DestType Bridge, DestBridgeUniqueid the surviving bridge), and
the transferer's two channels hang up.
"""

SCRIPT = r"""
== xfer_blind.action
0.000	VarSet	T	Variable=BLINDTRANSFER	Value=${X.name}
0.000	VarSet	X	Variable=BLINDTRANSFER	Value=${T.name}
0.000	VarSet	T	Variable=BRIDGEPEER
0.000	VarSet	T	Variable=BRIDGEPVTCALLID
0.000	CEL	T	EventName=BRIDGE_EXIT	CallerIDani=${T.num}	Peer=${X.name}	Extra={"bridge_id":"${%t}","bridge_technology":"simple_bridge"}
0.000	VarSet	X	Variable=BRIDGEPEER
0.000	VarSet	X	Variable=BRIDGEPVTCALLID
0.000	BridgeLeave	T,%t
0.000	CEL	X	EventName=BRIDGE_EXIT	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Extra={"bridge_id":"${%t}","bridge_technology":"simple_bridge"}
0.000	BridgeLeave	X,%t
0.000	BlindTransfer	T,X,%t	Result=Success	BridgeNumChannels=2	Context=${p.xfer_context}	Extension=${p.xfer_exten}
0.000	Newexten	X	context=${p.xfer_context}	exten=${p.xfer_exten}	priority=1	app=NoOp	appdata=Internal call "${X.cidname}" <${X.num}> -> ${p.xfer_exten}
0.001	BridgeDestroy	%t
0.001	Hangup	T	Cause=16
0.001	Newexten	X	priority=2	app=Dial	appdata=PJSIP/${p.xfer_exten},20,t
0.001	CEL	T	EventName=HANGUP	CallerIDani=${T.num}	Extra={"hangupcause":16,"hangupsource":"","dialstatus":""}
0.001	CEL	T	EventName=CHAN_END	CallerIDani=${T.num}
0.001	VarSet	X	Variable=DIALSTATUS
0.001	VarSet	X	Variable=DIALEDPEERNUMBER
0.001	VarSet	X	Variable=DIALEDPEERNAME
0.001	VarSet	X	Variable=ANSWEREDTIME
0.001	VarSet	X	Variable=ANSWEREDTIME_MS
0.001	VarSet	X	Variable=DIALEDTIME
0.001	VarSet	X	Variable=DIALEDTIME_MS
0.001	VarSet	X	Variable=RINGTIME
0.001	VarSet	X	Variable=RINGTIME_MS
0.001	VarSet	X	Variable=PROGRESSTIME
0.001	VarSet	X	Variable=PROGRESSTIME_MS
0.002	DeviceStateChange	_	Device=${T.device}	State=NOT_INUSE

== xfer_dial.ring
0.000	CEL	Y	new=PJSIP/${p.xfer_exten}-${seq}	link=X	EventName=CHAN_START	CallerIDnum=${p.xfer_exten}	CallerIDname=${p.xfer_name}	Exten=s	Context=agents
0.000	Newchannel	Y	cid_num=${p.xfer_exten}	cid_name=${p.xfer_name}	context=agents	exten=s
0.000	VarSet	Y	Variable=DIALEDPEERNUMBER	Value=${p.xfer_exten}
0.000	VarSet	Y	Variable=__SIPREFERREDBYHDR	Value=${p.referred_by}	when=${p.referred_by}
0.000	Newexten	Y	conn_num=${X.num}	conn_name=${X.cidname}	exten=${p.xfer_exten}	app=AppDial	appdata=(Outgoing Line)
0.000	NewConnectedLine	Y
0.000	DialBegin	X,Y	DialString=${p.xfer_exten}
0.000	NewConnectedLine	X	conn_num=${p.xfer_exten}	conn_name=${p.xfer_name}
0.001	Newstate	Y	state=5
0.001	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=BUSY
0.001	VarSet	X	Variable=RINGTIME	Value=0
0.001	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=3	when=${p.xfer_queue}
0.001	VarSet	X	Variable=RINGTIME_MS	Value=3
0.001	DialState	X,Y	DialStatus=RINGING

== xfer_dial.answer
3.004	CEL	Y	EventName=ANSWER	CallerIDani=${p.xfer_exten}	T.media=off
3.004	CEL	Y	EventName=BRIDGE_ENTER	CallerIDani=${p.xfer_exten}	Exten=	Extra={"bridge_id":"${%y}","bridge_technology":"simple_bridge"}
3.004	CEL	X	EventName=BRIDGE_ENTER	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Peer=${Y.name}	Extra={"bridge_id":"${%y}","bridge_technology":"simple_bridge"}
3.004	Newstate	Y	state=6	media=on
3.004	VarSet	X	Variable=DIALSTATUS	Value=ANSWER
3.005	VarSet	X	Variable=DIALEDPEERNAME	Value=${Y.name}
3.005	VarSet	X	Variable=DIALEDPEERNUMBER	Value=${p.xfer_exten}
3.005	DialEnd	X,Y	Y.exten=	DialStatus=ANSWER
3.005	BridgeCreate	%y
3.005	Newexten	Y
3.005	BridgeEnter	Y,%y
3.005	BridgeEnter	X,%y
3.005	VarSet	X	Variable=BLINDTRANSFER
3.005	VarSet	Y	Variable=BRIDGEPEER	Value=${X.name}
3.005	VarSet	X	Variable=BRIDGEPEER	Value=${Y.name}
8.009	CEL	Y	EventName=BRIDGE_EXIT	CallerIDani=${p.xfer_exten}	Peer=${X.name}	Extra={"bridge_id":"${%y}","bridge_technology":"simple_bridge"}
8.010	HangupRequest	Y	Cause=16
8.010	VarSet	Y	Variable=BRIDGEPEER
8.010	VarSet	X	Variable=BRIDGEPEER
8.010	BridgeLeave	Y,%y
8.010	BridgeLeave	X,%y
8.010	VarSet	X	Variable=DIALSTATUS	Value=ANSWER
8.011	CEL	X	EventName=BRIDGE_EXIT	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Extra={"bridge_id":"${%y}","bridge_technology":"simple_bridge"}
8.011	SoftHangupRequest	X	Cause=16
8.011	CEL	X	EventName=HANGUP	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=	Extra={"hangupcause":16,"hangupsource":"${Y.name}","dialstatus":"ANSWER"}
8.011	CEL	X	EventName=CHAN_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
8.011	Cdr	X	DestinationChannel=${T.name}	UserField=${p.userfield}
8.011	Cdr	X	DestinationChannel=${Y.name}	UserField=${p.userfield}
8.011	CEL	Y	EventName=HANGUP	CallerIDani=${p.xfer_exten}	Extra={"hangupcause":16,"hangupsource":"${Y.name}","dialstatus":""}
8.011	CEL	Y	EventName=CHAN_END	CallerIDani=${p.xfer_exten}
8.011	CEL	Y	EventName=LINKEDID_END	CallerIDani=${p.xfer_exten}
8.011	Hangup	X	Cause=16
8.011	DeviceStateChange	_	Device=${X.device}	State=NOT_INUSE
8.011	BridgeDestroy	%y
8.011	Hangup	Y	Cause=16
8.011	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=NOT_INUSE
8.011	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=1	when=${p.xfer_queue}

== xfer_dial.busy
0.503	Hangup	Y	Cause=17	T.media=off
0.503	DialEnd	X,Y	DialStatus=BUSY
0.503	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=NOT_INUSE
0.503	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=1	when=${p.xfer_queue}
0.503	VarSet	X	Variable=DIALSTATUS	Value=BUSY
0.503	Newexten	X	priority=3	app=NoOp	appdata=DIALSTATUS=BUSY
0.503	Newexten	X	priority=4	app=Hangup	appdata=
0.503	SoftHangupRequest	X	Cause=16
0.503	CEL	X	EventName=HANGUP	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=	Extra={"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":"BUSY"}
0.503	CEL	X	EventName=CHAN_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
0.503	Cdr	X	DestinationChannel=${T.name}	UserField=${p.userfield}
0.503	CEL	X	EventName=LINKEDID_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
0.503	Hangup	X	Cause=16
0.503	DeviceStateChange	_	Device=${X.device}	State=NOT_INUSE

== xfer_dial.noanswer
20.004	DialEnd	X,Y	DialStatus=NOANSWER	T.media=off
20.004	CEL	Y	EventName=HANGUP	CallerIDani=${p.xfer_exten}	Extra={"hangupcause":0,"hangupsource":"","dialstatus":""}
20.004	CEL	Y	EventName=CHAN_END	CallerIDani=${p.xfer_exten}
20.004	Hangup	Y	Cause=0
20.004	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=NOT_INUSE
20.004	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=1	when=${p.xfer_queue}
20.004	VarSet	X	Variable=DIALSTATUS	Value=NOANSWER
20.004	Newexten	X	priority=3	app=NoOp	appdata=DIALSTATUS=NOANSWER
20.004	Newexten	X	priority=4	app=Hangup	appdata=
20.004	SoftHangupRequest	X	Cause=16
20.004	CEL	X	EventName=HANGUP	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=	Extra={"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":"NOANSWER"}
20.004	CEL	X	EventName=CHAN_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
20.004	Cdr	X	DestinationChannel=${T.name}	UserField=${p.userfield}
20.004	CEL	X	EventName=LINKEDID_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
20.004	Hangup	X	Cause=16
20.004	DeviceStateChange	_	Device=${X.device}	State=NOT_INUSE

== atxfer.consult
0.000	Hold	T
0.000	MusicOnHoldStart	X
0.500	CEL	K	new=${T.device}-${seq}	EventName=CHAN_START	CallerIDnum=${T.num}	CallerIDname=${T.cidname}	Exten=${p.xfer_exten}	Context=agents
0.500	Newchannel	K	state=4	cid_num=${T.num}	cid_name=${T.cidname}	context=agents	exten=${p.xfer_exten}
0.501	VarSet	K	Variable=SIPDOMAIN	Value=127.0.0.1
0.501	Newexten	K	app=NoOp	appdata=Internal call "${T.cidname}" <${T.num}> -> ${p.xfer_exten}
0.501	Newexten	K	priority=2	app=Dial	appdata=PJSIP/${p.xfer_exten},20,t
0.501	VarSet	K	Variable=DIALSTATUS
0.501	VarSet	K	Variable=DIALEDPEERNUMBER
0.501	VarSet	K	Variable=DIALEDPEERNAME
0.501	VarSet	K	Variable=ANSWEREDTIME
0.501	VarSet	K	Variable=ANSWEREDTIME_MS
0.501	VarSet	K	Variable=DIALEDTIME
0.501	VarSet	K	Variable=DIALEDTIME_MS
0.501	VarSet	K	Variable=RINGTIME
0.501	VarSet	K	Variable=RINGTIME_MS
0.501	VarSet	K	Variable=PROGRESSTIME
0.501	VarSet	K	Variable=PROGRESSTIME_MS
0.502	Newchannel	Y	new=PJSIP/${p.xfer_exten}-${seq}	link=K	cid_num=${p.xfer_exten}	cid_name=${p.xfer_name}	context=agents	exten=s
0.502	VarSet	Y	Variable=DIALEDPEERNUMBER	Value=${p.xfer_exten}
0.502	Newexten	Y	conn_num=${T.num}	conn_name=${T.cidname}	exten=${p.xfer_exten}	app=AppDial	appdata=(Outgoing Line)
0.502	NewConnectedLine	Y
0.502	CEL	Y	EventName=CHAN_START	Exten=s	Application=	AppData=
0.502	DialBegin	K,Y	DialString=${p.xfer_exten}
0.502	NewConnectedLine	K	conn_num=${p.xfer_exten}	conn_name=${p.xfer_name}
0.509	VarSet	K	Variable=RINGTIME	Value=0
0.509	VarSet	K	Variable=RINGTIME_MS	Value=2
0.509	Newstate	Y	state=5
0.509	DialState	K,Y	DialStatus=RINGING
0.509	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=3	when=${p.xfer_queue}
0.509	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=BUSY

== atxfer.answer
3.005	CEL	Y	EventName=ANSWER	CallerIDani=${p.xfer_exten}
3.005	Newstate	Y	state=6	media=on
3.005	VarSet	K	Variable=DIALSTATUS	Value=ANSWER
3.005	VarSet	K	Variable=DIALEDPEERNAME	Value=${Y.name}
3.005	VarSet	K	Variable=DIALEDPEERNUMBER	Value=${p.xfer_exten}
3.005	DialEnd	K,Y	Y.exten=	DialStatus=ANSWER
3.006	CEL	K	EventName=ANSWER	CallerIDani=${T.num}	CallerIDdnid=${p.xfer_exten}
3.006	Newstate	K	state=6	media=on
3.006	BridgeCreate	%k
3.006	CEL	Y	EventName=BRIDGE_ENTER	CallerIDani=${p.xfer_exten}	Extra={"bridge_id":"${%k}","bridge_technology":"simple_bridge"}
3.006	Newexten	Y
3.006	BridgeEnter	Y,%k
3.007	CEL	K	EventName=BRIDGE_ENTER	CallerIDani=${T.num}	CallerIDdnid=${p.xfer_exten}	Peer=${Y.name}	Extra={"bridge_id":"${%k}","bridge_technology":"simple_bridge"}
3.007	BridgeEnter	K,%k
3.007	VarSet	Y	Variable=BRIDGEPEER	Value=${K.name}
3.007	VarSet	K	Variable=BRIDGEPEER	Value=${Y.name}

== atxfer.complete
0.000	Unhold	T
0.000	MusicOnHoldStop	X
0.001	VarSet	X	Variable=ATTENDEDTRANSFER	Value=${T.name}
0.001	VarSet	Y	Variable=ATTENDEDTRANSFER	Value=${K.name}
0.001	BridgeLeave	K,%k
0.001	BridgeLeave	Y,%k
0.001	BridgeEnter	Y,%t
0.001	BridgeLeave	T,%t
0.001	AttendedTransfer	T,K,X,Y,%t,%k	Result=Success	OrigBridgeNumChannels=2	SecondBridgeNumChannels=2	IsExternal=${p.xfer_external}	DestBridgeUniqueid=${%t}
0.002	BridgeDestroy	%k
0.002	NewConnectedLine	X	conn_num=${p.xfer_exten}	conn_name=${p.xfer_name}
0.002	NewConnectedLine	Y	conn_num=${X.num}	conn_name=${X.cidname}
0.002	VarSet	X	Variable=BRIDGEPEER	Value=${Y.name}
0.002	VarSet	Y	Variable=BRIDGEPEER	Value=${X.name}
0.002	CEL	T	EventName=HANGUP	CallerIDani=${T.num}	Extra={"hangupcause":16,"hangupsource":"","dialstatus":""}
0.002	CEL	T	EventName=CHAN_END	CallerIDani=${T.num}
0.002	Hangup	T	Cause=16
0.003	CEL	K	EventName=HANGUP	CallerIDani=${T.num}	CallerIDdnid=${p.xfer_exten}	Application=	AppData=	Extra={"hangupcause":16,"hangupsource":"","dialstatus":"ANSWER"}
0.003	CEL	K	EventName=CHAN_END	CallerIDani=${T.num}	CallerIDdnid=${p.xfer_exten}	Application=	AppData=
0.003	Cdr	K	DestinationChannel=${Y.name}
0.003	Hangup	K	Cause=16
0.003	DeviceStateChange	_	Device=${T.device}	State=NOT_INUSE
5.003	CEL	Y	EventName=BRIDGE_EXIT	CallerIDani=${p.xfer_exten}	Peer=${X.name}	Extra={"bridge_id":"${%t}","bridge_technology":"simple_bridge"}
5.004	HangupRequest	Y	Cause=16
5.004	VarSet	Y	Variable=BRIDGEPEER
5.004	VarSet	X	Variable=BRIDGEPEER
5.004	BridgeLeave	Y,%t
5.004	BridgeLeave	X,%t
5.005	CEL	X	EventName=BRIDGE_EXIT	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Extra={"bridge_id":"${%t}","bridge_technology":"simple_bridge"}
5.005	SoftHangupRequest	X	Cause=16
5.005	CEL	X	EventName=HANGUP	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=	Extra={"hangupcause":16,"hangupsource":"${Y.name}","dialstatus":"ANSWER"}
5.005	CEL	X	EventName=CHAN_END	CallerIDani=${X.num}	CallerIDdnid=${p.did}	Application=	AppData=
5.005	Cdr	X	DestinationChannel=${T.name}	UserField=${p.userfield}
5.005	Hangup	X	Cause=16
5.005	DeviceStateChange	_	Device=${X.device}	State=NOT_INUSE
5.005	BridgeDestroy	%t
5.005	CEL	Y	EventName=HANGUP	CallerIDani=${p.xfer_exten}	Extra={"hangupcause":16,"hangupsource":"${Y.name}","dialstatus":""}
5.005	CEL	Y	EventName=CHAN_END	CallerIDani=${p.xfer_exten}
5.005	CEL	Y	EventName=LINKEDID_END	CallerIDani=${p.xfer_exten}
5.005	Hangup	Y	Cause=16
5.005	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=NOT_INUSE
5.005	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=1	when=${p.xfer_queue}

== atxfer.target_failed
0.000	DialEnd	K,Y	DialStatus=${p.xfer_failure}
0.000	Hangup	Y	Cause=${p.xfer_cause}
0.000	DeviceStateChange	_	Device=PJSIP/${p.xfer_exten}	State=NOT_INUSE
0.000	QueueMemberStatus	_	Queue=${p.xfer_queue}	Interface=PJSIP/${p.xfer_exten}	Status=1	when=${p.xfer_queue}
0.001	VarSet	K	Variable=DIALSTATUS	Value=${p.xfer_failure}
0.001	Newexten	K	priority=3	app=NoOp	appdata=DIALSTATUS=${p.xfer_failure}
0.001	Newexten	K	priority=4	app=Hangup	appdata=
0.001	SoftHangupRequest	K	Cause=16
0.001	Cdr	K	DestinationChannel=${Y.name}	Disposition=${p.xfer_disposition}
0.001	Hangup	K	Cause=16
0.500	Unhold	T
0.500	MusicOnHoldStop	X
"""
